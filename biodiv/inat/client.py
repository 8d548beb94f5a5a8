"""All HTTP to iNaturalist: one pyinaturalist ``ClientSession`` per harvest.

Why a thin class around the session rather than ``pyinaturalist.v1.get_observations``:
the API base URL must be configurable (mirrors, local stand-in servers) and the
harvester needs to count every request it sends (the daily budget holds across runs
and is stored in the database). ``session.request`` on full URLs built from
``cfg.inat_api_url`` keeps everything pyinaturalist's session gives: rate limiting
(pyrate-limiter buckets), retries on 5xx and timeouts, truncated-JSON retries, the
request-parameter conversions (lists, booleans, datetimes) and its User-Agent, to
which we add ours. The HTTP response cache is kept in memory and bypassed for every
request: a harvest must see the current state of iNaturalist.

429 answers are handled here rather than by urllib3 or requests-ratelimiter: the
wait is ``Retry-After`` when the server gives one, else an exponential backoff
(1, 2, 4 … s, capped), and the attempts are bounded by ``max_retries``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable

import requests
from pyinaturalist import ClientSession
from pyrate_limiter import MemoryListBucket
from pyrate_limiter.exceptions import InvalidParams
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from biodiv.errors import BiodivError

OBSERVATIONS_PER_PAGE = 200      # API maximum for full records
IDS_PER_PAGE = 1000              # only_id listing; a lower server cap is handled by the caller
TAXA_PER_REQUEST = 30            # /taxa/{ids} accepts at most 30 ids
RETRY_STATUSES = (500, 502, 503, 504)
MAX_RETRY_AFTER = 120.0          # seconds; longer waits are not worth holding the store lock for
BURST = 5                        # consecutive requests allowed before per-second pacing


class InatError(BiodivError):
    """iNaturalist answered, but not with usable data (``status``: the HTTP status, if any)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class InatUnreachable(InatError):
    """No answer at all (DNS, refused connection, timeouts after retries)."""


class BudgetExhausted(BiodivError):
    """The configured daily request budget is spent: a clean stop, not a failure."""


def biodiv_version() -> str:
    try:
        return version("biodiv")
    except PackageNotFoundError:  # running from a checkout that is not installed
        return "dev"


def user_agent() -> str:
    return f"biodiv/{biodiv_version()} (citizen biodiversity dashboard for French territories)"


@dataclass
class RequestCounter:
    """Requests actually sent (retries included), and a guard called before each one."""

    sent: int = 0
    limit: int | None = None            # stop before sending more than this
    on_sent: Callable[[int], None] | None = None
    started: float = field(default_factory=time.monotonic)

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


def make_session(cfg) -> ClientSession:
    """A pyinaturalist session configured from ``[inaturalist]``: rates, retries, timeout, UA.

    Nothing lands in ``$HOME``: in-memory rate-limit buckets and an in-memory cache.
    """
    ic = cfg.inaturalist
    try:
        session = ClientSession(
            cache_file=str(cfg.cache / "inat-http-cache.sqlite"),
            use_memory=True,
            per_second=ic.per_second,
            per_minute=ic.per_minute,
            per_day=0,          # the daily budget is ours, counted across runs in the database
            burst=BURST,
            bucket_class=MemoryListBucket,
            ratelimit_path=None,
            lock_path=None,
            max_retries=ic.max_retries,
            timeout=ic.timeout,
            user_agent=user_agent(),
        )
    except (ValueError, InvalidParams) as exc:  # pyrate-limiter rejects rates that do not increase
        raise BiodivError(
            f"[inaturalist] per_second × {BURST} must be below per_minute ({exc})"
        ) from None
    retry = Retry(
        total=ic.max_retries,
        backoff_factor=0.5,
        backoff_max=30,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=False,   # 429 is ours to handle (see module doc)
        raise_on_status=False,
    )
    for prefix in ("http://", "https://"):
        session.mount(prefix, HTTPAdapter(max_retries=retry))
    session.limit_statuses = ()   # 429: our own wait (see module doc), not a fixed 5 s bucket fill
    session.settings.disabled = True   # never read nor write the HTTP cache (thread-safe, unlike cache_disabled())
    return session


class InatClient:
    """The two endpoints the harvester reads, against ``base_url`` (``…/v1``)."""

    def __init__(self, cfg, session: ClientSession | None = None, counter: RequestCounter | None = None):
        self.base_url = cfg.inat_api_url.rstrip("/")
        self.session = session or make_session(cfg)
        self.counter = counter or RequestCounter()
        self.max_429 = max(cfg.inaturalist.max_retries, 1)
        # a response hook sees every response, including pyinaturalist's own re-sends
        # of truncated JSON; urllib3's silent retries are read from the response history
        self.session.hooks["response"].append(self._count_response)

    def _count_response(self, response, *args, **kwargs):
        # requests-cache dispatches response hooks a second time: count each response once
        if not getattr(response, "_biodiv_counted", False):
            response._biodiv_counted = True
            self.counter.add(1 + _retries_of(response))
        return response

    # -- public endpoints --------------------------------------------------------
    def observations(self, params: dict[str, Any]) -> dict:
        """One page of ``GET /observations`` (full records, or ids with ``only_id``)."""
        return self._get_json(f"{self.base_url}/observations", params)

    def taxa(self, ids: list[int], locale: str = "fr") -> list[dict]:
        """``GET /taxa/{ids}`` for at most 30 ids (with their ancestors)."""
        if not ids:
            return []
        if len(ids) > TAXA_PER_REQUEST:
            raise ValueError(f"at most {TAXA_PER_REQUEST} taxon ids per request")
        joined = ",".join(str(int(i)) for i in ids)
        return self._get_json(f"{self.base_url}/taxa/{joined}", {"locale": locale}).get("results") or []

    def close(self) -> None:
        self.session.close()

    # -- transport -------------------------------------------------------------------
    def _get_json(self, url: str, params: dict[str, Any]) -> dict:
        for attempt in range(self.max_429 + 1):
            response = self._send(url, params)
            if response.status_code != 429:
                break
            if attempt == self.max_429:
                raise InatError(
                    f"iNaturalist keeps refusing requests (429 Too Many Requests) at {url}: "
                    "harvested pages are kept; lower [inaturalist] per_second/per_minute and run again later"
                )
            time.sleep(_retry_after(response, attempt))
        if response.status_code >= 400:
            raise InatError(
                f"iNaturalist answered HTTP {response.status_code} for {_short(response.url)}: "
                f"{_short(response.text, 160)}",
                status=response.status_code,
            )
        try:
            data = response.json()
        except ValueError:
            raise InatError(f"iNaturalist sent invalid JSON for {_short(response.url)} (after retries)") from None
        if not isinstance(data, dict):
            raise InatError(f"iNaturalist sent an unexpected JSON document for {_short(response.url)}")
        return data

    def _send(self, url: str, params: dict[str, Any]) -> requests.Response:
        self.counter.check()
        try:
            response = self.session.request("GET", url, raise_for_status=False, **params)
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
        return response


def _retries_of(response: requests.Response) -> int:
    """Requests urllib3 re-sent on its own (5xx, timeouts) before this response."""
    retries = getattr(getattr(response, "raw", None), "retries", None)
    history = getattr(retries, "history", None) or ()
    return len(history)


def _retry_after(response: requests.Response, attempt: int) -> float:
    """Seconds to wait after a 429: the server's ``Retry-After``, else 1, 2, 4 … s."""
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        seconds = 2.0 ** attempt
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
