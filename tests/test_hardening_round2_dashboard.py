"""Nothing from the address bar is rendered as Markdown (issue 22, item 8).

The real dashboard server and headless Chromium: a sheet opened with an image, a link or
HTML in ``?commune=`` / ``?site=`` / ``?taxon=`` shows the characters typed, and a listener on
127.0.0.1 (which the browser can reach: loopback bypasses the no-network proxy) receives no
request."""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from biodiv.dashboard.sheets import as_text
from helpers_dashboard import build_fixture_db

pytestmark = pytest.mark.browser


class Listener:
    """An HTTP server on 127.0.0.1 that records every request it receives."""

    def __init__(self):
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_as_text_is_one_code_span():
    """The value sits in a code span whose fence no backtick run of the value can close."""
    for payload in ("![x](http://h/c.png)", "[a](http://h)", "<img src=http://h/x>", "a`b``c", "`x`"):
        shown = as_text(payload)
        fence = shown[: len(shown) - len(shown.lstrip("`"))]
        assert shown.endswith(fence) and fence not in shown[len(fence):-len(fence)], shown
        assert shown[len(fence):-len(fence)].strip() == payload
    assert "\n" not in as_text("a\n\n# titre")




def test_a_url_payload_fetches_nothing(tmp_path, monkeypatch, browser_ready):
    from helpers_browser import chromium, new_context, streamlit_server

    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    listener = Listener()
    try:
        payloads = [f"![x]({listener.url}/image.png)", f"[clic]({listener.url}/link)",
                    f"<img src='{listener.url}/html.png'>", f"{listener.url}/autolink.png"]
        pages = [("fiche-commune", "commune", "ne correspond à aucune zone"),
                 ("fiche-site", "site", "ne correspond à aucune zone"),
                 ("fiche-espece", "taxon", "pas été observé")]
        with streamlit_server(db, log_dir=tmp_path) as server, chromium() as browser:
            context = new_context(browser)
            page = context.new_page()
            for path, param, message in pages:
                for payload in payloads:
                    page.goto(f"{server.url}/{path}?{param}={urllib.parse.quote(payload, safe='')}")
                    alert = page.get_by_text(message)
                    alert.first.wait_for(timeout=30_000)
                    box = page.locator("[data-testid='stAlert']", has_text=message).first
                    assert payload in box.inner_text(), (path, payload, box.inner_text())   # as typed
                    assert box.locator("img, a").count() == 0, box.inner_html()
                    page.wait_for_timeout(300)
            context.close()
        assert listener.hits == [], listener.hits
    finally:
        listener.close()
