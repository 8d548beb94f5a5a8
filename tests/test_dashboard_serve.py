"""The dashboard's server (biodiv.dashboard.server.serve): Streamlit's front end served gzip-compressed
by the real server, the page still working in headless Chromium, and the compression
middleware's rules on a real Starlette static-files app (called through ASGI)."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import urllib.request
from pathlib import Path

import pytest

from biodiv.dashboard.server.compress import MIN_SIZE, GzipCache, StaticGzipMiddleware, entry_assets, warm_static
from biodiv.dashboard.server.serve import parse_options

from helpers_dashboard import build_fixture_db

JS = b"function f(){return 'biodiv';}\n" * 2000  # compressible, well above MIN_SIZE


def asgi_get(app, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
    """One request through an ASGI app: (status, headers, body)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "extensions": {}}
    sent: list[dict] = []
    requested = []

    async def receive():
        if not requested:
            requested.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected (the app cancels this wait)

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


@pytest.fixture()
def static_app(tmp_path):
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    (tmp_path / "static" / "js").mkdir(parents=True)
    (tmp_path / "static" / "js" / "index.abc.js").write_bytes(JS)
    (tmp_path / "static" / "js" / "tiny.js").write_bytes(b"x=1")
    (tmp_path / "static" / "media").mkdir()
    (tmp_path / "static" / "media" / "font.woff2").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "index.html").write_bytes(b"<html>" + b"<p>biodiv</p>" * 200 + b"</html>")
    cache = GzipCache()
    inner = Starlette(routes=[Mount("/", app=StaticFiles(directory=tmp_path, html=True))])
    return StaticGzipMiddleware(inner, base_url="", cache=cache), cache


def test_static_bundles_are_gzipped_once(static_app):
    app, cache = static_app
    for _ in range(3):
        status, headers, body = asgi_get(app, "/static/js/index.abc.js", {"Accept-Encoding": "gzip, deflate"})
        assert status == 200
        assert headers["content-encoding"] == "gzip"
        assert headers["vary"] == "Accept-Encoding"
        assert int(headers["content-length"]) == len(body) < len(JS) / 10
        assert headers["etag"].startswith('W/"')  # another representation of the file
        assert "accept-ranges" not in headers
        assert gzip.decompress(body) == JS
    assert cache.compressions == 1  # compressed once, served from the cache after

    status, headers, body = asgi_get(app, "/", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).startswith(b"<html><p>biodiv</p>")


def test_what_is_left_alone(static_app):
    app, cache = static_app
    # a client that does not accept gzip, a Range request, a HEAD, a tiny file, binary media,
    # a path outside Streamlit's static files, a missing file
    cases = [
        ("/static/js/index.abc.js", {}, "GET"),
        ("/static/js/index.abc.js", {"Accept-Encoding": "identity"}, "GET"),
        ("/static/js/index.abc.js", {"Accept-Encoding": "gzip", "Range": "bytes=0-99"}, "GET"),
        ("/static/js/index.abc.js", {"Accept-Encoding": "gzip"}, "HEAD"),
        ("/static/js/tiny.js", {"Accept-Encoding": "gzip"}, "GET"),
        ("/static/media/font.woff2", {"Accept-Encoding": "gzip"}, "GET"),
        ("/index.html", {"Accept-Encoding": "gzip"}, "GET"),
        ("/static/js/missing.js", {"Accept-Encoding": "gzip"}, "GET"),
    ]
    for path, headers, method in cases:
        status, out, body = asgi_get(app, path, headers, method)
        assert "content-encoding" not in out, (path, headers, method)
    status, out, body = asgi_get(app, "/static/js/index.abc.js", {"Range": "bytes=0-99", "Accept-Encoding": "gzip"})
    assert status == 206 and body == JS[:100]
    assert asgi_get(app, "/static/js/tiny.js", {"Accept-Encoding": "gzip"})[2] == b"x=1"
    assert asgi_get(app, "/static/js/missing.js", {"Accept-Encoding": "gzip"})[0] == 404
    assert cache.compressions == 0


def test_base_url_path(tmp_path):
    from starlette.routing import Mount
    from starlette.applications import Starlette
    from starlette.staticfiles import StaticFiles

    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.js").write_bytes(JS)
    inner = Starlette(routes=[Mount("/biodiv", app=StaticFiles(directory=tmp_path))])
    app = StaticGzipMiddleware(inner, base_url="/biodiv/", cache=GzipCache())
    status, headers, body = asgi_get(app, "/biodiv/static/a.js", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip" and gzip.decompress(body) == JS


def test_cache_is_bounded():
    cache = GzipCache(max_bytes=20_000)
    bodies = [os.urandom(10_000) for _ in range(10)]  # incompressible: ~10 kB each once gzipped
    for b in bodies:
        assert gzip.decompress(cache.get(b)) == b
    assert cache._size <= 20_000 and len(cache._items) == 1
    assert gzip.decompress(cache.get(bodies[-1])) == bodies[-1] and cache.compressions == 10


def test_warm_static_covers_streamlit_entry_bundles():
    from streamlit import file_util

    static = Path(file_util.get_static_dir())
    assets = entry_assets(static)
    assert any(p.name.startswith("index.") and p.suffix == ".js" for p in assets)
    cache = GzipCache()
    warm_static(static, cache)
    before = cache.compressions
    for path in [static / "index.html", *assets]:
        body = path.read_bytes()
        if len(body) >= MIN_SIZE:
            assert gzip.decompress(cache.get(body)) == body
    assert cache.compressions == before  # all there already


def test_streamlit_internals_still_hold():
    """What biodiv/dashboard/server/streamlit_internals.py relies on is still there, as used:
    an upgrade of Streamlit that moves it fails here, not in a visitor's browser."""
    from biodiv.dashboard.server.streamlit_internals import option_type, static_dir

    index = (static_dir() / "index.html").read_bytes()
    assert b"<head>" in index and b"<script" in index
    assert any((static_dir() / "static" / "js").glob("*.js"))
    assert (option_type("server.port"), option_type("server.headless"), option_type("server.address")) == \
        (int, bool, str)
    assert option_type("server.nope") is None


def test_only_one_module_reaches_into_streamlit():
    """No other module of the package uses a private Streamlit name or its internal modules."""
    root = Path(__file__).resolve().parents[1] / "biodiv"
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "streamlit_internals.py":
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("file_util", "_config_options_template", "streamlit.runtime", "streamlit.web.",
                       "from streamlit import config", "streamlit.config."):
            if needle in text:
                offenders.append(f"{path.relative_to(root)}: {needle}")
    assert offenders == []


def test_parse_options():
    assert parse_options(["--server.port", "8502", "--server.headless", "true",
                          "--server.address=0.0.0.0", "--browser.gatherUsageStats", "False"]) == {
        "server.port": 8502, "server.headless": True, "server.address": "0.0.0.0",
        "browser.gatherUsageStats": False}
    for bad in (["--server.nope", "1"], ["--server.port"], ["8501"], ["--server.headless", "yes"]):
        with pytest.raises(SystemExit):
            parse_options(bad)


@pytest.mark.browser
def test_served_compressed_and_the_map_still_draws(tmp_path, monkeypatch):
    """The real server: index.html and every bundle it loads come gzip-compressed and decode to
    Streamlit's files (index.html with the entry script); in headless Chromium with no network the map draws and a first view
    (front end + page content) stays under 3 MB."""
    from biodiv.dashboard.server import assets
    from biodiv.dashboard.app import PAGES
    from helpers_browser import CHROMIUM, chromium, streamlit_server, visit
    from biodiv.dashboard.server.entry import base_url_script, with_script
    from streamlit import file_util

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium absent (/usr/bin/chromium)")
    pytest.importorskip("playwright.sync_api")
    if not assets.assets_installed():
        pytest.skip("Leaflet files missing (`biodiv dashboard --install-assets`)")
    static = Path(file_util.get_static_dir())
    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(db, log_dir=tmp_path) as server:
        html = None
        for path in ["/", *("/" + p.relative_to(static).as_posix() for p in entry_assets(static))]:
            req = urllib.request.Request(server.url + path, headers={"Accept-Encoding": "gzip"})
            local = (static / ("index.html" if path == "/" else path.lstrip("/"))).read_bytes()
            if path == "/":   # with the server's address (see test_dashboard_entry.py)
                local = with_script(local, base_url_script(url for _, _, url, _ in PAGES))
            with urllib.request.urlopen(req, timeout=30) as r:
                encoding, body = r.headers["Content-Encoding"], r.read()
            if len(local) < MIN_SIZE:  # not worth it: sent as is
                assert encoding is None and body == local, path
                continue
            assert encoding == "gzip" and gzip.decompress(body) == local, path
            body = gzip.decompress(body)
            html = html or body
        assert re.search(rb'src="\./static/js/index\.[^"]+\.js"', html)
        with chromium() as browser:
            carte = visit(browser, f"{server.url}/carte", min_polygons=3)
    assert carte.seconds_to_map is not None, server.log.read_text()[-2000:]
    assert carte.probe["polygons"] == 8 and carte.probe["points"] == 8   # as in test_dashboard_browser.py
    assert "Carte des observations" in carte.text
    js = [(u, n) for u, n in carte.responses if "/static/js/" in u and "/component/" not in u]
    assert len(js) > 20
    plain = sum((static / "static" / u.split("/static/", 1)[1]).stat().st_size for u, _ in js)
    assert sum(n for _, n in js) < plain / 2  # what crossed the network is the compressed form
    assert carte.bytes_http + carte.bytes_ws < 3_000_000


def test_downloaded_files_live_in_a_per_user_folder_not_in_the_package(monkeypatch, tmp_path):
    """Leaflet (and any other downloaded file) goes to platformdirs' user data folder, or
    $BIODIV_STATIC_DIR: never beside the installed code, which may be read-only and is
    replaced by every upgrade."""
    import biodiv
    from platformdirs import user_data_dir

    from biodiv.dashboard.server import assets

    monkeypatch.delenv(assets.STATIC_ENV, raising=False)
    package = Path(biodiv.__file__).resolve().parent
    assert assets.static_dir() == Path(user_data_dir("biodiv", appauthor=False)) / "static"
    assert package not in assets.default_vendor_dir().resolve().parents
    monkeypatch.setenv(assets.STATIC_ENV, str(tmp_path / "mine"))
    assert assets.default_vendor_dir() == tmp_path / "mine" / "vendor"
    assert not assets.assets_installed()


def test_unwritable_assets_folder_is_one_clear_line(tmp_path):
    from biodiv.dashboard.server import assets
    from biodiv.errors import BiodivError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(BiodivError, match=r"cannot write .*BIODIV_STATIC_DIR"):
        assets._write(blocker / "leaflet" / "leaflet.js", b"x")
    assert blocker.read_text() == "not a folder"


def test_static_route_serves_the_per_user_folder(monkeypatch, tmp_path):
    """``/app/static/...`` (Streamlit's URL for an app's own files) answers from the per-user
    folder, under a base URL too, and never outside it."""
    from starlette.applications import Starlette

    from biodiv.dashboard.server.assets import STATIC_ENV, static_route

    (tmp_path / "static" / "vendor" / "leaflet").mkdir(parents=True)
    (tmp_path / "static" / "vendor" / "leaflet" / "leaflet.js").write_bytes(JS)
    (tmp_path / "secret.txt").write_text("outside")
    monkeypatch.setenv(STATIC_ENV, str(tmp_path / "static"))
    app = Starlette(routes=[static_route()])
    status, headers, body = asgi_get(app, "/app/static/vendor/leaflet/leaflet.js")
    assert status == 200 and body == JS and headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "etag" in headers
    assert asgi_get(app, "/app/static/vendor/leaflet/missing.js")[0] == 404
    assert asgi_get(app, "/app/static/../secret.txt")[0] == 404
    assert asgi_get(app, "/app/static/%2e%2e/secret.txt")[2] != b"outside"
    prefixed = Starlette(routes=[static_route("/biodiv/")])
    assert asgi_get(prefixed, "/biodiv/app/static/vendor/leaflet/leaflet.js")[2] == JS
    assert asgi_get(prefixed, "/app/static/vendor/leaflet/leaflet.js")[0] == 404


def test_the_real_server_runs_from_any_folder_and_serves_the_per_user_files(tmp_path, monkeypatch):
    """The server as ``biodiv dashboard`` starts it, from a folder with nothing of biodiv in
    it: the page answers 200, the per-user Leaflet file is served (compressed by Streamlit's
    own gzip, as before) and its log holds no traceback."""
    from biodiv.dashboard.server.assets import STATIC_ENV
    from helpers_browser import streamlit_server

    static = tmp_path / "user-static"
    (static / "vendor" / "leaflet").mkdir(parents=True)
    (static / "vendor" / "leaflet" / "leaflet.js").write_bytes(JS)
    monkeypatch.setenv(STATIC_ENV, str(static))
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    db = build_fixture_db(tmp_path / "fixture.duckdb")
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    with streamlit_server(db, log_dir=run_dir) as server:
        with urllib.request.urlopen(server.url + "/carte", timeout=30) as r:
            assert r.status == 200 and b"<head>" in r.read()
        req = urllib.request.Request(server.url + "/app/static/vendor/leaflet/leaflet.js",
                                     headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200 and r.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(r.read()) == JS
    log = server.log.read_text()
    assert "Traceback" not in log and "static folder" not in log.lower(), log[-2000:]
