"""All HTTP to the public geographic services: geo.api.gouv.fr and the IGN Géoplateforme WFS.

Why one module: the rest of biodiv only sees parsed Python values or files in the cache,
so every network rule lives here — a User-Agent naming biodiv, timeouts, a few retries
with back-off on 429/5xx, and one plain-language error per failure mode. Downloads are
written to ``cfg.cache / "areas"`` atomically and reused unless ``refresh`` is asked
(REEN: a boundary layer changes once a year, there is no reason to fetch it twice).

Documented endpoints used:

* ``GET {geo_api_url}/epcis/{siren}?fields=nom,code`` and
  ``GET {geo_api_url}/epcis/{siren}/communes?fields=nom,code``: an EPCI and its members.
* ``GET {geo_api_url}/communes?codeEpci={siren}&format=geojson&geometry=contour&fields=nom,code``
  and ``GET {geo_api_url}/departements/{dep}/communes?format=geojson&geometry=contour&fields=nom,code``:
  commune boundaries as a GeoJSON FeatureCollection (properties ``code``, ``nom``).
* ``GET {wfs_url}?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES={layer}
  &OUTPUTFORMAT=application/json&SRSNAME=EPSG:4326&BBOX=...&COUNT=..&STARTINDEX=..``:
  Natura 2000 polygons, paged.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from biodiv.errors import BiodivError
from biodiv.files import write_atomic

try:  # the package version for the User-Agent, without failing in a source checkout
    from importlib.metadata import version as _version

    _VERSION = _version("biodiv")
except Exception:  # pragma: no cover - not installed
    _VERSION = "dev"

USER_AGENT = f"biodiv/{_VERSION} (open-source citizen biodiversity atlas; python-requests)"
RETRIES = 3                # retries after the first attempt (connect errors, 429, 5xx)
BACKOFF_FACTOR = 0.5       # seconds: 0.5, 1, 2 between retries
WFS_PAGE_SIZE = 100        # features per GetFeature page
WFS_MAX_PAGES = 200        # a safety stop against a server that never ends its pages

GEO_API = "geo.api.gouv.fr"
WFS = "IGN Géoplateforme WFS"


class GeoSourceError(BiodivError):
    """A public geographic service failed or answered something unusable."""


class ServiceUnreachable(GeoSourceError):
    pass


class NotFound(GeoSourceError):
    pass


# ---------------------------------------------------------------------------
# Session
# ---------------------------------------------------------------------------

def make_session() -> requests.Session:
    """A requests session with biodiv's User-Agent and retries with back-off."""
    retry = Retry(
        total=RETRIES,
        connect=RETRIES,
        read=RETRIES,
        status=RETRIES,
        backoff_factor=BACKOFF_FACTOR,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


@dataclass
class Download:
    """A file in the cache and where it came from."""

    path: Path
    url: str
    fetched_on: date
    from_cache: bool


def _get(
    session: requests.Session, url: str, params: dict[str, Any], service: str, timeout: float, hint: str
) -> requests.Response:
    """One GET with the retries of the session; every failure becomes one clear line."""
    try:
        resp = session.get(url, params=params, timeout=timeout)
    except requests.exceptions.RetryError as exc:
        raise ServiceUnreachable(f"{service} keeps failing ({_short(exc)}); {hint}") from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise ServiceUnreachable(
            f"{service} is unreachable at {url} ({_short(exc)}); {hint}"
        ) from None
    except requests.exceptions.RequestException as exc:
        raise GeoSourceError(f"{service} request failed ({_short(exc)}); {hint}") from None
    if resp.status_code == 404:
        raise NotFound(f"{service} has no such resource: {resp.url} (check the URL in [sources]); {hint}")
    if resp.status_code >= 400:
        detail = _ows_exception(resp.text)
        raise ServiceUnreachable(
            f"{service} answered HTTP {resp.status_code} for {resp.url}"
            f"{' (' + detail + ')' if detail else ''}; {hint}"
        )
    return resp


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = re.search(r"\[Errno [^\]]+\] [^'\")]+", text)
    if reason:
        return reason.group(0).strip()
    return text[:160]


def _json(resp: requests.Response, service: str) -> Any:
    try:
        return resp.json()
    except ValueError:
        snippet = _ows_exception(resp.text) or resp.text[:120].replace("\n", " ")
        raise GeoSourceError(f"{service} did not answer JSON for {resp.url}: {snippet}") from None


def _ows_exception(text: str) -> str | None:
    """The message of an OGC ExceptionReport (WFS errors come as XML)."""
    m = re.search(r"<(?:\w+:)?ExceptionText>(.*?)</(?:\w+:)?ExceptionText>", text, re.S)
    return " ".join(m.group(1).split())[:200] if m else None


def _cached(path: Path, url: str, refresh: bool) -> Download | None:
    if path.exists() and not refresh:
        return Download(path, url, date.fromtimestamp(path.stat().st_mtime), True)
    return None


def areas_cache(cache_dir: Path) -> Path:
    return Path(cache_dir) / "areas"


# ---------------------------------------------------------------------------
# geo.api.gouv.fr
# ---------------------------------------------------------------------------

GEO_HINT = "use `biodiv init --communes CODE,...` or `--epci-file epci.json` instead"
BOUNDARY_HINT = "import a local file instead with `biodiv areas import FILE --type commune`"


def fetch_epci(
    geo_api_url: str, siren: str, timeout: float = 60.0, session: requests.Session | None = None
) -> tuple[str, list[str]]:
    """Name and member INSEE codes of an EPCI (two small JSON requests)."""
    session = session or make_session()
    base = geo_api_url.rstrip("/")
    try:
        info = _json(
            _get(session, f"{base}/epcis/{siren}", {"fields": "nom,code"}, GEO_API, timeout, GEO_HINT),
            GEO_API,
        )
        members = _json(
            _get(
                session, f"{base}/epcis/{siren}/communes", {"fields": "nom,code"}, GEO_API, timeout, GEO_HINT
            ),
            GEO_API,
        )
    except NotFound:
        raise NotFound(f"no EPCI with SIREN {siren} at {GEO_API}") from None
    if not isinstance(info, dict) or not isinstance(members, list):
        raise GeoSourceError(f"{GEO_API} answered an unexpected document for EPCI {siren}")
    codes = [str(m.get("code")) for m in members if isinstance(m, dict) and m.get("code")]
    if not codes:
        raise GeoSourceError(f"{GEO_API} lists no member communes for EPCI {siren}")
    return str(info.get("nom") or f"EPCI {siren}"), codes


def fetch_commune_boundaries(
    geo_api_url: str,
    cache_dir: Path,
    *,
    siren: str | None = None,
    insee_codes: list[str] | None = None,
    refresh: bool = False,
    timeout: float = 60.0,
    session: requests.Session | None = None,
) -> Download:
    """Commune contours of an EPCI (one request) or of a list of communes (one request
    per department, the neighbours included: they make the map readable at the edges).

    The FeatureCollection is cached as-is; the import keeps every commune and flags the
    members of the territory.
    """
    base = geo_api_url.rstrip("/")
    params = {"format": "geojson", "geometry": "contour", "fields": "nom,code"}
    cache = areas_cache(cache_dir)
    if siren:
        url = f"{base}/communes"
        path = cache / f"communes_epci_{siren}.geojson"
        hit = _cached(path, f"{url}?codeEpci={siren}", refresh)
        if hit:
            return hit
        session = session or make_session()
        resp = _get(session, url, {"codeEpci": siren, **params}, GEO_API, timeout, BOUNDARY_HINT)
        doc = _json(resp, GEO_API)
        _check_collection(doc, GEO_API, resp.url)
        write_atomic(path, json.dumps(doc, ensure_ascii=False).encode(), "the downloaded layer")
        return Download(path, resp.url, date.today(), False)

    if not insee_codes:
        raise GeoSourceError("no territory to fetch communes for: run `biodiv init` first")
    departments = sorted({department_of(c) for c in insee_codes})
    key = hashlib.sha1(",".join(sorted(insee_codes)).encode()).hexdigest()[:10]
    path = cache / f"communes_{'-'.join(departments)}_{key}.geojson"
    urls = ",".join(f"{base}/departements/{d}/communes" for d in departments)
    hit = _cached(path, urls, refresh)
    if hit:
        return hit
    session = session or make_session()
    features: list[dict] = []
    for dep in departments:
        resp = _get(session, f"{base}/departements/{dep}/communes", params, GEO_API, timeout, BOUNDARY_HINT)
        doc = _json(resp, GEO_API)
        _check_collection(doc, GEO_API, resp.url)
        features.extend(doc["features"])
    merged = {"type": "FeatureCollection", "features": features}
    write_atomic(path, json.dumps(merged, ensure_ascii=False).encode(), "the downloaded layer")
    return Download(path, urls, date.today(), False)


def department_of(insee_code: str) -> str:
    """Department of an INSEE commune code: 2 characters, 3 overseas (97x)."""
    return insee_code[:3] if insee_code.startswith("97") else insee_code[:2]


def _check_collection(doc: Any, service: str, url: str) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise GeoSourceError(f"{service} did not answer a GeoJSON FeatureCollection for {url}")


# ---------------------------------------------------------------------------
# IGN Géoplateforme WFS
# ---------------------------------------------------------------------------

WFS_HINT = "import a local file instead with `biodiv areas import FILE --type n2000_zsc|n2000_zps`"


def wfs_params(layer: str, bbox: tuple[float, float, float, float], count: int, start: int) -> dict[str, str]:
    """GetFeature parameters; the BBOX is in EPSG:4326 *axis order* (lat, lon) as WFS 2.0 wants."""
    xmin, ymin, xmax, ymax = bbox
    return {
        "SERVICE": "WFS",
        "VERSION": "2.0.0",
        "REQUEST": "GetFeature",
        "TYPENAMES": layer,
        "OUTPUTFORMAT": "application/json",
        "SRSNAME": "EPSG:4326",
        "BBOX": f"{ymin},{xmin},{ymax},{xmax},urn:ogc:def:crs:EPSG::4326",
        "COUNT": str(count),
        "STARTINDEX": str(start),
    }


def fetch_wfs_layer(
    wfs_url: str,
    layer: str,
    bbox: tuple[float, float, float, float],
    cache_dir: Path,
    *,
    refresh: bool = False,
    timeout: float = 60.0,
    page_size: int | None = None,
    session: requests.Session | None = None,
) -> Download:
    """Every feature of ``layer`` whose bbox meets ``bbox`` (lon/lat), all pages merged
    into one cached FeatureCollection."""
    page_size = page_size or WFS_PAGE_SIZE
    safe = re.sub(r"[^A-Za-z0-9]+", "_", layer).strip("_")
    key = hashlib.sha1(repr(tuple(round(v, 5) for v in bbox)).encode()).hexdigest()[:10]
    path = areas_cache(cache_dir) / f"wfs_{safe}_{key}.geojson"
    source = f"{wfs_url}?TYPENAMES={layer}"
    hit = _cached(path, source, refresh)
    if hit:
        return hit
    session = session or make_session()
    features: list[dict] = []
    seen: set = set()
    start = 0
    for _ in range(WFS_MAX_PAGES):
        resp = _get(session, wfs_url, wfs_params(layer, bbox, page_size, start), WFS, timeout, WFS_HINT)
        doc = _json(resp, WFS)
        _check_collection(doc, WFS, resp.url)
        page = doc["features"]
        for feat in page:  # paging without a sort order may repeat a feature: keep it once
            key = feat.get("id") if isinstance(feat, dict) else None
            if key is None or key not in seen:
                seen.add(key)
                features.append(feat)
        returned = doc.get("numberReturned", len(page))
        matched = doc.get("numberMatched")
        if not isinstance(returned, int):
            returned = len(page)
        if returned < page_size or not page:
            break
        start += returned
        if isinstance(matched, int) and start >= matched:
            break
    else:
        raise GeoSourceError(f"{WFS} kept sending pages for {layer} (more than {WFS_MAX_PAGES})")
    merged = {"type": "FeatureCollection", "features": features}
    write_atomic(path, json.dumps(merged, ensure_ascii=False).encode(), "the downloaded layer")
    return Download(path, source, date.today(), False)
