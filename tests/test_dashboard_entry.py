"""The entry page's server address (biodiv.dashboard.server.entry): the middleware's rules on a real
Starlette app (through ASGI), the inline script in Chromium under several addresses, and the
real server: a direct visit of the Carte page no longer probes ``/carte/_stcore/health``."""

from __future__ import annotations

import gzip

import pytest

from biodiv.dashboard.server.entry import EntryPageMiddleware, base_url_script, with_script

from helpers_dashboard import build_fixture_db
from test_dashboard_serve import asgi_get

INDEX = (b"<!DOCTYPE html><html><head><title>Streamlit</title>"
         b'<script type="module" src="./static/js/index.js"></script></head><body></body></html>')
PAGES = ["vue-ensemble", "carte", "fiche-commune"]


@pytest.fixture()
def entry_app(tmp_path):
    """A Starlette app serving ``index.html`` for every page path (as Streamlit does), plain at
    ``/`` and gzip-compressed elsewhere (Streamlit's own gzip skips only ``/``), plus other
    HTML and a script, wrapped by the middleware."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    def index(request):
        if request.url.path == "/":
            return HTMLResponse(INDEX, headers={"ETag": '"abc"'})
        return Response(gzip.compress(INDEX), media_type="text/html",
                        headers={"Content-Encoding": "gzip", "ETag": '"abc"'})

    routes = [
        Route("/other.html", lambda r: HTMLResponse(b"<html><head></head><p>autre</p></html>")),
        Route("/app.js", lambda r: Response(b"var x = '<head>';", media_type="application/javascript")),
        Route("/big.html", lambda r: HTMLResponse(b"<html><head></head>" + b"x" * 100_000 + b"</html>")),
        Route("/{page:path}", index),
    ]
    (tmp_path / "index.html").write_bytes(INDEX)
    return EntryPageMiddleware(Starlette(routes=routes), static_dir=tmp_path, page_paths=PAGES)


def test_the_entry_page_gets_the_script(entry_app):
    script = base_url_script(PAGES).encode()
    status, headers, body = asgi_get(entry_app, "/")
    assert status == 200 and body == with_script(INDEX, script.decode())
    assert body.startswith(b"<!DOCTYPE html><html><head>" + script + b"<title>")
    assert int(headers["content-length"]) == len(body) and "etag" not in headers
    # Streamlit's gzip-compressed answer for a page path: decoded, changed, compressed again
    status, headers, body = asgi_get(entry_app, "/carte", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip" and "etag" not in headers
    assert gzip.decompress(body) == with_script(INDEX, script.decode())
    assert int(headers["content-length"]) == len(body)


def test_anything_else_is_left_alone(entry_app):
    assert asgi_get(entry_app, "/other.html")[2] == b"<html><head></head><p>autre</p></html>"
    assert asgi_get(entry_app, "/app.js")[2] == b"var x = '<head>';"
    status, headers, body = asgi_get(entry_app, "/big.html")
    assert status == 200 and len(body) == len(b"<html><head></head></html>") + 100_000
    status, headers, body = asgi_get(entry_app, "/", method="HEAD")
    assert b"BACKEND_BASE_URL" not in body


def test_with_script_needs_a_head():
    with pytest.raises(ValueError):
        with_script(b"<html></html>", "<script></script>")


@pytest.mark.browser
def test_the_script_in_chromium_for_each_address():
    """Where the front end will look for its server, for addresses of the app served at the
    root or under a proxy's prefix (pages fulfilled locally: no network)."""
    from helpers_browser import CHROMIUM, chromium

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium absent (/usr/bin/chromium)")
    pytest.importorskip("playwright.sync_api")
    html = with_script(INDEX.replace(b'<script type="module" src="./static/js/index.js"></script>', b""),
                       base_url_script(PAGES)).decode()
    cases = {
        "http://dashboard.test/carte": "http://dashboard.test/",
        "http://dashboard.test/carte/": "http://dashboard.test/",
        "http://dashboard.test/fiche-commune?area=12": "http://dashboard.test/",
        "http://dashboard.test/biodiv/carte": "http://dashboard.test/biodiv/",
        "http://dashboard.test/": None,          # the root: nothing to guess
        "http://dashboard.test/biodiv/": None,   # a prefix alone: left to Streamlit
        "http://dashboard.test/unknown": None,
    }
    with chromium() as browser:
        context = browser.new_context()
        context.route("**/*", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
        page = context.new_page()
        for url, expected in cases.items():
            page.goto(url)
            got = page.evaluate("() => window.__streamlit ? window.__streamlit.BACKEND_BASE_URL : null")
            assert got == expected, url
        context.close()


@pytest.mark.browser
def test_carte_opened_directly_asks_the_server_once(tmp_path, monkeypatch):
    """The real server: a visit of ``/carte`` asks ``/_stcore/health`` only (no 404 on
    ``/carte/_stcore/health`` then a retry), and the map draws."""
    from biodiv.dashboard.server import assets
    from helpers_browser import CHROMIUM, chromium, new_context, streamlit_server, visit

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium absent (/usr/bin/chromium)")
    pytest.importorskip("playwright.sync_api")
    if not assets.assets_installed():
        pytest.skip("Leaflet files missing (`biodiv dashboard --install-assets`)")
    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(db, log_dir=tmp_path) as server, chromium() as browser:
        context = new_context(browser)
        asked: list[str] = []
        context.on("request", lambda req: asked.append(req.url))
        carte = visit(browser, f"{server.url}/carte", min_polygons=3, context=context)
        context.close()
    assert carte.seconds_to_map is not None, server.log.read_text()[-2000:]
    health = [u for u in asked if "_stcore/health" in u]
    assert health and all(u == f"{server.url}/_stcore/health" for u in health), health
    assert "Carte des observations" in carte.text
