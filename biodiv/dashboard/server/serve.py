"""``python -m biodiv.dashboard.server.serve [--section.option value ...]``: the dashboard's server.

What ``biodiv dashboard`` runs. It serves the script shipped in the package
(``biodiv/dashboard/streamlit_app/app.py``, the same pages as a checkout's ``streamlit run
app.py``) with its ``.streamlit/config.toml``, through Streamlit's own ASGI entry point
(``st.App``, Streamlit ≥ 1.5x: Starlette + uvicorn), from any directory, and adds five things:

* the downloaded files (Leaflet) are served at ``/app/static/`` from the per-user folder
  (``assets.static_route``), where Streamlit alone would look beside its script, inside the
  installed package;

* the heavy imports (folium, pandas, DuckDB spatial) happen before the server listens:
  Streamlit runs the app script only when the first visitor connects, who used to wait
  ~2.5 s for them;
* Streamlit's front end is served gzip-compressed (``compress.StaticGzipMiddleware``):
  Streamlit deliberately leaves ``/static`` uncompressed for a reverse proxy to do, which
  made a first view 3.5 MB when there is no proxy (1.4 MB compressed);
* the default views' queries are computed in the background when the server starts and
  whenever the database file is replaced (``warm.Warmer``), so a visitor after an update
  does not wait for them;
* the entry page tells the front end where the server is when a page other than the first
  is opened directly (``entry.EntryPageMiddleware``), instead of it finding out after a 404
  and a 100 ms retry.
"""

from __future__ import annotations

import sys
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from biodiv.dashboard.server.streamlit_internals import option_type, static_dir

SCRIPT = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"


def preload() -> None:
    """Import what every page needs and load DuckDB spatial once, into the instance that
    serves the area outlines (``spatial``; installs the extension offline).

    Only modules that do not touch Streamlit: importing Streamlit components or caches
    before the server exists would register them outside its runtime."""
    import folium  # noqa: F401
    import pandas  # noqa: F401

    from biodiv.dashboard import data, maps, spatial  # noqa: F401

    spatial.load()


def parse_options(args: list[str]) -> dict[str, Any]:
    """``--server.port 8501 --server.headless true`` → ``{"server.port": 8501, ...}``, typed
    as Streamlit declares each option (``App.run`` takes a mapping, not command-line flags)."""
    out: dict[str, Any] = {}
    it = iter(args)
    for flag in it:
        name, eq, value = flag.partition("=")
        if not name.startswith("--") or "." not in name:
            raise SystemExit(f"unexpected argument {flag!r}: expected --section.option value")
        key = name[2:]
        if not eq:
            try:
                value = next(it)
            except StopIteration:
                raise SystemExit(f"{flag} needs a value") from None
        kind = option_type(key)
        if kind is None:
            raise SystemExit(f"unknown Streamlit option {key!r}")
        if kind is bool:
            if value.lower() not in ("true", "false"):
                raise SystemExit(f"{flag} must be true or false")
            out[key] = value.lower() == "true"
        else:
            out[key] = kind(value)
    return out


def make_app(options: dict[str, Any] | None = None):
    """The Streamlit app (``st.App``) with the per-user static files, the gzip middleware
    and the background warm-up. ``options`` are the command line's (``server.baseUrlPath``
    places the static route)."""
    import streamlit as st
    from starlette.middleware import Middleware

    from biodiv.dashboard.server.assets import static_route
    from biodiv.dashboard.server.compress import StaticGzipMiddleware
    from biodiv.dashboard.server.entry import EntryPageMiddleware

    @asynccontextmanager
    async def lifespan(_app):
        from biodiv.dashboard import warm
        from biodiv.dashboard.ui import config

        threading.Thread(target=_warm_up, name="biodiv-warm-up", daemon=True).start()
        warmer = warm.Warmer(config().db).start()
        yield
        warmer.stop()

    base_url = str((options or {}).get("server.baseUrlPath") or "")
    return st.App(str(SCRIPT), lifespan=lifespan, routes=[static_route(base_url)],
                  # the entry page is changed first, then compressed
                  middleware=[Middleware(StaticGzipMiddleware), Middleware(EntryPageMiddleware)])


def _warm_up() -> None:
    """Start-up work that must not delay listening: compress the front end's bundles."""
    from biodiv.dashboard.server.compress import warm_static

    warm_static(static_dir())


def main(argv: list[str] | None = None) -> None:
    options = parse_options(list(sys.argv[1:] if argv is None else argv))
    preload()
    app = make_app(options)
    # st.App.run anchors the script folder (sys.path, script-level .streamlit/) on argv[0]:
    # the packaged script, exactly as `streamlit run` would.
    sys.argv = [str(SCRIPT)]
    app.run(config=options)


if __name__ == "__main__":
    main()
