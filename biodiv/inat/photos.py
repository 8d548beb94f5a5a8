"""Square thumbnails of the latest observations' photos, downloaded at update time and kept
in the user's cache directory, so the workshop screen shows photos with no internet.

Why at update time and here: a room's Wi-Fi is often down and a projector page must not
wait for 20 image requests; ``biodiv update`` already has the network. iNaturalist's
"square" size is 75×75 px, a few KB each. All the HTTP of this feature is in
:func:`download`; the page only reads files (:func:`cached`). Frugal: only the latest
``KEEP`` photos are fetched, each once (the file's presence is the index), older files are
pruned, and a few failures in a row stop the run (no network: one short attempt, not 40).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from biodiv.analysis.queries import DEFAULT_QUALITY, QUALITY_GRADES

log = logging.getLogger(__name__)

KEEP = 40                   # thumbnails kept: more than the screen shows, for the next refreshes
MAX_BYTES = 200_000         # a square thumbnail is ~2–10 KB; anything larger is not one
TIMEOUT_S = 10.0
STOP_AFTER_FAILURES = 2
_SIZES = re.compile(r"/(square|thumb|small|medium|large|original)\.(jpe?g|png|gif|webp)(\?.*)?$", re.I)


def cache_dir() -> Path:
    """``$BIODIV_PHOTO_DIR``, else ``<user cache>/biodiv/photos`` (platformdirs:
    ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux)."""
    if os.environ.get("BIODIV_PHOTO_DIR"):
        return Path(os.environ["BIODIV_PHOTO_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("biodiv", appauthor=False)) / "photos"


def square_url(url: str) -> str:
    """iNaturalist's 75×75 version of a photo URL (``…/photos/123/medium.jpg`` → ``…/square.jpg``)."""
    return _SIZES.sub(lambda m: f"/square.{m.group(2)}", url)


def _file_for(url: str, directory: Path) -> Path:
    return directory / (hashlib.sha1(square_url(url).encode()).hexdigest()[:20] + ".jpg")


def cached(url: str | None, directory: Path | None = None) -> Path | None:
    """The thumbnail file of photo ``url`` if it was downloaded, else None (no network)."""
    if not isinstance(url, str) or not url:
        return None
    path = _file_for(url, directory or cache_dir())
    return path if path.is_file() else None


def download(urls: list[str], directory: Path | None = None, session=None) -> dict[str, int]:
    """Fetch the square thumbnails of ``urls`` not cached yet; keep the ``KEEP`` newest files.

    Returns counts (fetched, cached, failed). Never raises for the network: the update that
    calls this has done its work; a missing photo only shows as no photo."""
    import requests

    directory = directory or cache_dir()
    session = session or requests.Session()
    out = {"fetched": 0, "cached": 0, "failed": 0}
    failures = 0
    for url in urls[:KEEP]:
        target = _file_for(url, directory)
        if target.is_file():
            out["cached"] += 1
            os.utime(target)            # still wanted: not pruned below
            continue
        try:
            with session.get(square_url(url), timeout=TIMEOUT_S, stream=True) as r:
                r.raise_for_status()
                if not r.headers.get("Content-Type", "image/").startswith("image/"):
                    raise ValueError(f"not an image: {r.headers.get('Content-Type')}")
                body = r.raw.read(MAX_BYTES + 1, decode_content=True)
            if len(body) > MAX_BYTES or not body:
                raise ValueError(f"{len(body)} bytes: not a thumbnail")
            directory.mkdir(parents=True, exist_ok=True)      # created on the first photo only
            tmp = target.with_suffix(".part")
            tmp.write_bytes(body)
            tmp.replace(target)
            out["fetched"] += 1
            failures = 0
        except (requests.RequestException, OSError, ValueError) as exc:
            out["failed"] += 1
            failures += 1
            log.info("photo %s not cached: %s", url, exc)
            if failures >= STOP_AFTER_FAILURES:
                break
    if not directory.is_dir():
        return out
    files = sorted(directory.glob("*.jpg"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)
    return out


def latest_photo_urls(con, n: int = KEEP) -> list[str]:
    """Photo URLs of the ``n`` latest observations of the territory of the default quality
    grades (what Mode atelier shows: casual observations are not fetched for nothing)."""
    grades = QUALITY_GRADES[DEFAULT_QUALITY]
    rows = con.execute(
        """SELECT photo_url FROM observations
           WHERE photo_url IS NOT NULL AND in_territory AND removed_at IS NULL
             AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], quality_grade))
           ORDER BY observed_on DESC NULLS LAST, id DESC LIMIT ?""",
        [list(grades), list(grades), n]).fetchall()
    return [r[0] for r in rows]


def cache_latest(store) -> dict[str, int] | None:
    """After an update is published: cache the latest thumbnails of ``store`` (a
    :class:`biodiv.store.Store`). Returns the counts of :func:`download`, or None when there is
    nothing to read or to fetch."""
    try:
        with store.read() as con:
            urls = latest_photo_urls(con)
    except Exception as exc:  # no database to read: nothing to show either
        log.info("photos skipped: %s", exc)
        return None
    if not urls:
        return None
    return download(urls)
