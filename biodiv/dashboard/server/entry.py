"""Tell Streamlit's front end where its server is before it looks for it, when a page other
than the first one is opened directly (``/carte``, ``/fiche-commune``...).

Why: the front end does not know whether ``/carte`` is a page of an app served at ``/`` or
an app served under a path prefix ``/carte``. It asks ``/carte/_stcore/health`` first, gets
a 404, waits its minimum retry delay (100 ms) and only then asks ``/_stcore/health``: every
direct visit of the Carte page lost 0.1–0.2 s before the WebSocket opened. Streamlit reads
the server's address from ``window.__streamlit.BACKEND_BASE_URL`` when a host page sets it
(its embedding configuration); this middleware adds, to the entry page Streamlit serves, a
line of script that sets it when the address ends with one of the app's page paths. The base
is taken from the address itself (whatever precedes the page path), so the app still works
behind a reverse proxy that serves it under a prefix.

Only a response whose body is exactly Streamlit's ``index.html`` (plain or gzip-encoded by
Streamlit) is changed; everything else passes through untouched.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Callable, Iterable

from biodiv.dashboard.server.compress import Message, Receive, Scope, Send, without_pathsend
from biodiv.dashboard.server.streamlit_internals import static_dir as streamlit_static_dir

MAX_HTML = 64 * 1024   # Streamlit's index.html is ~5 kB: anything larger is not it


def base_url_script(page_paths: Iterable[str]) -> str:
    """The inline script: sets ``BACKEND_BASE_URL`` to the address without its page path."""
    pages = json.dumps(sorted(set(page_paths)))
    return (
        "<script>(function(){var p=location.pathname.replace(/\\/+$/,\"\"),i=p.lastIndexOf(\"/\");"
        f"if({pages}.indexOf(p.slice(i+1))>=0)window.__streamlit=Object.assign("
        "{BACKEND_BASE_URL:location.origin+p.slice(0,i)+\"/\"},window.__streamlit||{});})();</script>"
    )


def with_script(index_html: bytes, script: str) -> bytes:
    """``index_html`` with ``script`` first in ``<head>`` (before the front end's bundle)."""
    head = index_html.find(b"<head>")
    if head < 0:
        raise ValueError("no <head> in Streamlit's index.html")
    at = head + len(b"<head>")
    return index_html[:at] + script.encode() + index_html[at:]


class EntryPageMiddleware:
    """Serve ``index.html`` with :func:`base_url_script` added (see the module docstring)."""

    def __init__(self, app: Callable, static_dir: Path | None = None,
                 page_paths: Iterable[str] | None = None) -> None:
        self.app = app
        if static_dir is None:
            static_dir = streamlit_static_dir()
        if page_paths is None:
            from biodiv.dashboard.app import PAGES

            page_paths = [url for _, _, url, _ in PAGES]
        self.original = (Path(static_dir) / "index.html").read_bytes()
        self.changed = with_script(self.original, base_url_script(page_paths))
        self.changed_gzip = gzip.compress(self.changed, 9, mtime=0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        scope = without_pathsend(scope)
        start: Message | None = None
        chunks: list[bytes] = []
        passing = False   # not the entry page: forward messages as they come

        async def capture(message: Message) -> None:
            nonlocal start, passing
            if passing:
                await send(message)
            elif message["type"] == "http.response.start":
                headers = dict((k.lower(), v) for k, v in message.get("headers", []))
                if message["status"] == 200 and headers.get(b"content-type", b"").startswith(b"text/html"):
                    start = message
                else:
                    passing = True
                    await send(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._finish(start, b"".join(chunks), send)
                elif sum(map(len, chunks)) > MAX_HTML:
                    passing = True
                    await send(start)
                    await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
            else:
                await send(message)

        await self.app(scope, receive, capture)

    async def _finish(self, start: Message, body: bytes, send: Send) -> None:
        headers = list(start.get("headers", []))
        encoding = next((v.strip().lower() for k, v in headers if k.lower() == b"content-encoding"), None)
        plain: bytes | None = body if encoding is None else None
        if encoding == b"gzip" and len(body) <= MAX_HTML:
            try:
                plain = gzip.decompress(body)
            except (OSError, EOFError):
                plain = None
        if plain != self.original:
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        new = self.changed if encoding is None else self.changed_gzip
        # another body: its length changes and Streamlit's validator no longer describes it
        headers = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"etag")]
        headers.append((b"content-length", str(len(new)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": new, "more_body": False})
