"""All HTTP to iNaturalist: one pyinaturalist ``ClientSession`` per harvest.

Observations are read from API v2 (``/v2/observations``) with the field selection of
:mod:`biodiv.inat.fields`, sent as pyinaturalist's ``v2.get_observations`` sends one: a
``POST`` with ``X-HTTP-Method-Override: GET``, the search parameters and ``fields`` as
JSON body, ``per_page`` in the query string. ``/taxa/{ids}`` is read from v2 too, with
the selection as RISON in a ``GET`` query string. The id listing of a reconciliation
(``only_id``) stays on v1. Every response's size on the wire is
counted (:class:`RequestCounter`), for the footprint each run records.

Why a thin class around the session rather than ``pyinaturalist.v1.get_observations``:
the API base URL must be configurable (mirrors, local stand-in servers) and the
harvester needs to count every request it sends (the daily budget holds across runs
and is stored in the database). ``session.request`` on full URLs built from
``cfg.inat_api_url`` keeps everything pyinaturalist's session gives: rate limiting
(pyrate-limiter buckets), retries on 5xx and timeouts, truncated-JSON retries, the
request-parameter conversions (lists, booleans, datetimes) and its User-Agent, to
which we add ours. The HTTP response cache is kept in memory and bypassed for every
request: a harvest must see the current state of iNaturalist.

Every request passes the rate limiter, retries included (issue 22): urllib3 sends each
request once (no ``Retry`` below the limiter, which would re-send 5xx answers 1-4 ms apart
without asking it), and :meth:`InatClient._get_json` retries here, each attempt a new
``session.request`` that waits for the limiter like any other. Server errors and transport
failures back off (0.5, 1, 2 … s, capped) up to ``max_retries``. A 429 waits for
``Retry-After`` when the server gives one, else until the next minute starts (iNaturalist
counts requests per minute), up to ``max_retries`` times; then the run stops with status
429 and never falls back to API v1 (which would only send more requests to a server that
asks for fewer). One configured ``timeout`` is the read timeout of every call, v2's
``POST`` reads included (pyinaturalist would give those its 60 s write timeout).
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import requests
from pyinaturalist import ClientSession
from pyinaturalist.session import FileLockSQLiteBucket
from pyrate_limiter.exceptions import BucketFullException, InvalidParams
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util import Retry

from biodiv.errors import BiodivError

OBSERVATIONS_PER_PAGE = 200      # API maximum for full records
IDS_PER_PAGE = 200               # only_id listing: the real API caps it at 200 too (asking more gives 200)
TAXA_PER_REQUEST = 30            # /taxa/{ids} accepts at most 30 ids
RETRY_STATUSES = (500, 502, 503, 504)
MAX_RETRY_AFTER = 120.0          # seconds; longer waits are not worth holding the store lock for
BACKOFF = 0.5                    # seconds before the first retry of a server error, doubled each time
MAX_BACKOFF = 30.0
LIMITER_WAITS = 20               # waits for the shared limiter before giving up (one line)
RATELIMIT_DIR_ENV = "BIODIV_RATELIMIT_DIR"
BURST = 5                        # consecutive requests allowed before per-second pacing


class InatError(BiodivError):
    """iNaturalist answered, but not with usable data (``status``: the HTTP status, if any)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class InatUnreachable(InatError):
    """No answer at all (DNS, refused connection, timeouts after retries)."""


class _InvalidJson(InatError):
    """A truncated or unparsable body: tried again like a server error."""


class BudgetExhausted(BiodivError):
    """The configured daily request budget is spent: a clean stop, not a failure."""


def biodiv_version() -> str:
    try:
        return version("biodiv")
    except PackageNotFoundError:  # running from a checkout that is not installed
        return "dev"


def user_agent(contact: str | None = None) -> str:
    """biodiv's part of the User-Agent; ``contact`` (``[inaturalist] contact``, an email or a
    URL) lets iNaturalist reach whoever runs this copy, as it asks API users to."""
    extra = f"; contact: {contact}" if contact else ""
    return f"biodiv/{biodiv_version()} (citizen biodiversity dashboard for French territories{extra})"


@dataclass
class RequestCounter:
    """Requests actually sent (retries included), and a guard called before each one."""

    sent: int = 0
    limit: int | None = None            # stop before sending more than this
    on_sent: Callable[[int], None] | None = None
    started: float = field(default_factory=time.monotonic)
    bytes_downloaded: int = 0           # response bodies as received (compressed, if the server did)
    json_bytes: int = 0                 # the same bodies decoded

    def check(self) -> None:
        if self.limit is not None and self.sent >= self.limit:
            raise BudgetExhausted(f"daily iNaturalist request budget reached ({self.sent} sent in this run)")

    def add(self, n: int = 1) -> None:
        self.sent += n
        if self.on_sent:
            self.on_sent(n)

    def per_minute(self) -> float:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return self.sent * 60.0 / elapsed


def ratelimit_dir() -> Path:
    """The folder of the rate-limit buckets, one per machine and user (not per ``cache_dir``:
    three stores harvested at once by one user share iNaturalist's limits, which count per IP).

    ``$BIODIV_RATELIMIT_DIR`` when set, else ``<tmp>/biodiv-ratelimit-<uid>`` (``/tmp`` where it
    exists, so that a cron job and a shell with another ``TMPDIR`` agree), created private
    (0700). A folder of that name that is not ours, or is a link, is refused: another user
    could otherwise read or reset our request times."""
    env = os.environ.get(RATELIMIT_DIR_ENV)
    if env:
        path = Path(env)
    else:
        base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
        uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
        path = base / f"biodiv-ratelimit-{uid}"
    try:
        path.mkdir(mode=0o700, parents=bool(env), exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise BiodivError(f"cannot create the rate-limit folder {path} ({exc.strerror or exc}); "
                          f"set ${RATELIMIT_DIR_ENV} to a writable folder") from None
    if not env and (stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode)
                    or (hasattr(os, "getuid") and info.st_uid != os.getuid())):
        raise BiodivError(f"the rate-limit folder {path} is not a folder of this user; remove it "
                          f"or set ${RATELIMIT_DIR_ENV} to a folder of yours")
    return path


def ratelimit_file(cfg=None) -> Path:
    """The SQLite file of the rate-limit buckets: request times outlive the process."""
    return ratelimit_dir() / "inat-ratelimit.sqlite"


def ratelimit_lock(cfg=None) -> Path:
    """The file lock every process takes around a rate-limit decision (pyinaturalist's
    ``FileLockSQLiteBucket``, py-filelock)."""
    return ratelimit_dir() / "inat-ratelimit.lock"


def make_session(cfg) -> ClientSession:
    """A pyinaturalist session configured from ``[inaturalist]``: rates, retries, timeout, UA.

    The per-second (burst) and per-minute limits are pyrate-limiter buckets persisted in
    ``inat-ratelimit.sqlite`` of :func:`ratelimit_dir` (wall-clock times), so that they hold across
    processes: a harvest restarted 13 times in a minute still sends at most
    ``per_minute`` requests in any 60 s. Processes may also run at the same time (a
    no-change update asks its request without the store's writer lock; ``biodiv dashboard
    --live`` updates in the background while an officer runs ``biodiv update``), so each
    decision is taken under a file lock (``inat-ratelimit.lock`` beside it) and reads the
    bucket's size from the file, not from a per-process cache: pyinaturalist's
    ``FileLockSQLiteBucket``, the documented multi-process bucket. Nothing lands in
    ``$HOME``; the HTTP cache is in memory and bypassed.
    """
    ic = cfg.inaturalist
    cfg.cache.mkdir(parents=True, exist_ok=True)
    try:
        session = ClientSession(
            cache_file=str(cfg.cache / "inat-http-cache.sqlite"),
            use_memory=True,
            per_second=ic.per_second,
            per_minute=ic.per_minute,
            per_day=0,          # the daily budget is ours, counted across runs in the database
            burst=BURST,
            bucket_class=FileLockSQLiteBucket,
            ratelimit_path=str(ratelimit_file(cfg)),
            lock_path=str(ratelimit_lock(cfg)),
            time_function=time.time,   # comparable across processes and reboots
            max_retries=0,      # retries are ours, through the limiter (module doc)
            timeout=ic.timeout,
            write_timeout=ic.timeout,   # v2 reads are POSTs: the same configured timeout
            user_agent=user_agent(getattr(ic, "contact", None)),
        )
    except (ValueError, InvalidParams) as exc:  # pyrate-limiter rejects rates that do not increase
        raise BiodivError(
            f"[inaturalist] per_second × {BURST} must be below per_minute ({exc})"
        ) from None
    # urllib3 sends once: a retry below the limiter would not wait for it (issue 22)
    retry = Retry(total=0, read=False, redirect=0, raise_on_status=False, respect_retry_after_header=False)
    for prefix in ("http://", "https://"):
        session.mount(prefix, HTTPAdapter(max_retries=retry))
    session.limit_statuses = ()   # 429: our own wait (see module doc), not a fixed 5 s bucket fill
    session.settings.disabled = True   # never read nor write the HTTP cache (thread-safe, unlike cache_disabled())
    return session


def v2_url(v1_url: str) -> str:
    """``…/v1`` -> ``…/v2`` (a base URL not ending in ``/v1`` gets ``/v2`` appended)."""
    base = v1_url.rstrip("/")
    return base[:-3] + "/v2" if base.endswith("/v1") else base + "/v2"


class InatClient:
    """The endpoints the harvester reads, against ``base_url`` (``…/v1``) and its ``…/v2``."""

    def __init__(self, cfg, session: ClientSession | None = None, counter: RequestCounter | None = None):
        self.base_url = cfg.inat_api_url.rstrip("/")
        self.v2_base_url = v2_url(self.base_url)
        self.session = session or make_session(cfg)
        self.counter = counter or RequestCounter()
        self.max_429 = max(cfg.inaturalist.max_retries, 1)
        self.max_retries = cfg.inaturalist.max_retries
        self.timeout = cfg.inaturalist.timeout
        self.sleep = time.sleep          # the waits between attempts (a test may record them)
        # a response hook sees every response, including pyinaturalist's own re-sends
        # of truncated JSON; urllib3's silent retries are read from the response history
        self.session.hooks["response"].append(self._count_response)

    def _count_response(self, response, *args, **kwargs):
        # requests-cache dispatches response hooks a second time: count each response once
        if not getattr(response, "_biodiv_counted", False):
            response._biodiv_counted = True
            self.counter.add(1 + _retries_of(response))
            body = len(response.content or b"")
            self.counter.json_bytes += body
            self.counter.bytes_downloaded += _wire_bytes(response, body)
        return response

    # -- public endpoints --------------------------------------------------------
    def observations(self, params: dict[str, Any]) -> dict:
        """One page of ``GET /v1/observations`` (full records, or ids with ``only_id``)."""
        return self._get_json(f"{self.base_url}/observations", params)

    def observations_v2(self, params: dict[str, Any], fields: dict[str, Any]) -> dict:
        """One page of ``/v2/observations`` with a field selection (POST + method override)."""
        body = {k: v for k, v in params.items() if k not in ("page", "per_page")} | {"fields": fields}
        query = {k: params[k] for k in ("page", "per_page") if k in params}
        return self._get_json(f"{self.v2_base_url}/observations", query, method="POST", json=body,
                              headers={"X-HTTP-Method-Override": "GET"})

    def taxa(self, ids: list[int], locale: str = "fr") -> list[dict]:
        """``GET /taxa/{ids}`` for at most 30 ids (with their ancestors)."""
        if not ids:
            return []
        if len(ids) > TAXA_PER_REQUEST:
            raise ValueError(f"at most {TAXA_PER_REQUEST} taxon ids per request")
        joined = ",".join(str(int(i)) for i in ids)
        return self._get_json(f"{self.base_url}/taxa/{joined}", {"locale": locale}).get("results") or []

    def taxa_v2(self, ids: list[int], fields: dict[str, Any], locale: str = "fr") -> list[dict]:
        """``GET /v2/taxa/{ids}`` with a field selection (RISON in the query string)."""
        from biodiv.inat.fields import rison

        if not ids:
            return []
        if len(ids) > TAXA_PER_REQUEST:
            raise ValueError(f"at most {TAXA_PER_REQUEST} taxon ids per request")
        joined = ",".join(str(int(i)) for i in ids)
        return self._get_json(f"{self.v2_base_url}/taxa/{joined}",
                              {"locale": locale, "fields": rison(fields)}).get("results") or []

    def close(self) -> None:
        self.session.close()

    # -- transport -------------------------------------------------------------------
    def _get_json(self, url: str, params: dict[str, Any], method: str = "GET", **extra) -> dict:
        """One answer as a JSON object; every attempt is a request through the limiter.

        Server errors (500/502/503/504), transport failures and invalid JSON are tried again
        ``max_retries`` times with a back-off; 429 answers ``max_retries`` times (at least
        once) after the wait the server asks for, or until the next minute."""
        failures = refusals = waits = 0
        while True:
            try:
                response = self._send(url, params, method, **extra)
            except BucketFullException as exc:
                # the shared limiter would make this request wait longer than pyinaturalist's
                # max_delay (other biodiv processes of this user are asking too): wait, ask again
                waits += 1
                if waits > LIMITER_WAITS:
                    raise InatError("the request rate shared by this user's biodiv processes stays "
                                    "exhausted; run again later") from None
                self.sleep(min(float((exc.meta_info or {}).get("remaining_time") or 1.0), MAX_RETRY_AFTER))
                continue
            except (InatUnreachable, _InvalidJson):
                failures += 1
                if failures > self.max_retries:
                    raise
                self.sleep(_backoff(failures))
                continue
            status = response.status_code
            if status == 429:
                refusals += 1
                if refusals > self.max_429:
                    raise InatError(
                        f"iNaturalist keeps refusing requests (429 Too Many Requests) at {_short(url)}: "
                        "harvested pages are kept; lower [inaturalist] per_second/per_minute and run again later",
                        status=429,
                    )
                self.sleep(_retry_after(response))
                continue
            if status in RETRY_STATUSES:
                failures += 1
                if failures > self.max_retries:
                    raise InatError(f"iNaturalist keeps failing (HTTP {status}, server errors) at {self.base_url}; "
                                    "try again later", status=status)
                self.sleep(_backoff(failures))
                continue
            if status >= 400:
                raise InatError(
                    f"iNaturalist answered HTTP {status} for {_short(response.url)}: "
                    f"{_short(response.text, 160)}",
                    status=status,
                )
            try:
                data = response.json()
            except ValueError:
                failures += 1
                if failures > self.max_retries:
                    raise InatError(f"iNaturalist sent invalid JSON for {_short(response.url)} (after retries)") from None
                self.sleep(_backoff(failures))
                continue
            if not isinstance(data, dict):
                raise InatError(f"iNaturalist sent an unexpected JSON document for {_short(response.url)}")
            return data

    def _send(self, url: str, params: dict[str, Any], method: str = "GET", **extra) -> requests.Response:
        """One request (the limiter waits first); a transport failure is :class:`InatUnreachable`."""
        self.counter.check()
        try:
            return self.session.request(method, url, raise_for_status=False, timeout=self.timeout,
                                        **extra, **params)
        except MaxRetryError:
            # pyinaturalist's check of the JSON body (its retries are 0: ours are here);
            # the response was received, and counted by the response hook
            raise _InvalidJson(f"iNaturalist sent invalid JSON for {_short(url)} (after retries)") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            self.counter.add(1)
            raise InatUnreachable(
                f"iNaturalist cannot be reached at {self.base_url} ({_reason(exc)}); "
                "the existing data is unchanged. To explore biodiv offline, run `biodiv demo` "
                "(fictional demonstration data, labelled as such)"
            ) from None
        except requests.exceptions.RetryError:
            self.counter.add(1)
            raise InatError(f"iNaturalist keeps failing (server errors) at {self.base_url}; try again later") from None


def _backoff(failures: int) -> float:
    """Seconds before the ``failures``-th retry of a failed request: 0.5, 1, 2 … capped."""
    return min(BACKOFF * 2.0 ** (failures - 1), MAX_BACKOFF)


def _retries_of(response: requests.Response) -> int:
    """Requests urllib3 re-sent on its own (5xx, timeouts) before this response."""
    retries = getattr(getattr(response, "raw", None), "retries", None)
    history = getattr(retries, "history", None) or ()
    return len(history)


def _wire_bytes(response: requests.Response, decoded: int) -> int:
    """Bytes of the body as they came over the network: urllib3 counts what it read
    before decompressing (``tell()``); without it, the decoded size."""
    raw = getattr(response, "raw", None)
    try:
        read = int(raw.tell()) if raw is not None else 0
    except (AttributeError, TypeError, ValueError, OSError):
        read = 0
    return read if read > 0 else decoded


def _retry_after(response: requests.Response, now: Callable[[], float] = time.time) -> float:
    """Seconds to wait after a 429: the server's ``Retry-After`` (seconds), else until the
    next minute of the wall clock starts (iNaturalist counts requests per minute: a shorter
    wait is refused again, and each refusal is a request spent)."""
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
        if seconds != seconds:       # NaN
            raise ValueError
    except ValueError:
        seconds = 60.0 - (now() % 60.0) + 0.5
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Failed to establish a new connection", "Read timed out", "Connection refused",
                   "Name or service not known", "timed out"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
