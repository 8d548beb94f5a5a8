"""Gzip for the files Streamlit itself serves uncompressed: its front end (``/static/...``,
~3.2 MB of JavaScript per first view) and the root page.

Why: Streamlit 1.67 runs on Starlette/uvicorn only (Tornado is gone) and its own gzip
middleware deliberately skips ``/`` and ``/static/`` (see
``streamlit/web/server/starlette/starlette_gzip_middleware.py``): Starlette's
``GZipMiddleware`` would recompress every bundle on every request, and Streamlit expects a
reverse proxy or CDN in front to do it. The dashboard is often served with no proxy
(``biodiv dashboard`` on a laptop, a workshop room's Wi-Fi), where that made a first view
3.5 MB. This middleware answers Streamlit's objection instead of ignoring it: each distinct
body is compressed once (keyed by a hash of the exact bytes Streamlit served, so a cached
answer can never differ from what Streamlit would send), kept in a bounded in-memory
cache, and the entry page's bundles are compressed before the first visitor arrives
(:func:`warm_static`). Streamlit still answers every request itself (path checks, SPA
fallback, cache headers); only the body's encoding changes.

It is plain ASGI, added through ``st.App(middleware=...)``, Streamlit's supported hook
(see ``biodiv/dashboard/server/serve.py``).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Awaitable, Callable

import anyio.to_thread

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

COMPRESSIBLE = re.compile(rb"^(text/|application/(javascript|json|manifest\+json|xml)|image/svg\+xml)")
MIN_SIZE = 1024
LEVEL = 9  # once per file, so the best ratio is worth its CPU


class GzipCache:
    """Compressed bodies keyed by (sha256 of the plain body): thread-safe, bounded LRU."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.compressions = 0  # how many bodies were compressed (tests: compressed once)

    @staticmethod
    def key(body: bytes) -> bytes:
        return hashlib.sha256(body).digest()

    def get(self, body: bytes) -> bytes:
        """The gzip of ``body``, compressing it only if it was never seen (or was evicted)."""
        k = self.key(body)
        with self._lock:
            hit = self._items.get(k)
            if hit is not None:
                self._items.move_to_end(k)
                return hit
        packed = gzip.compress(body, LEVEL, mtime=0)
        with self._lock:
            self.compressions += 1
            if k not in self._items:
                self._items[k] = packed
                self._size += len(packed)
                while self._size > self.max_bytes and len(self._items) > 1:
                    _, old = self._items.popitem(last=False)
                    self._size -= len(old)
        return packed


def _base(scope: Scope, base_url: str) -> str:
    """Request path without ``server.baseUrlPath``."""
    path = scope.get("path", "")
    prefix = "/" + base_url.strip("/") if base_url.strip("/") else ""
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix):] or "/"
    return path


def _accepts_gzip(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"accept-encoding":
            codings = {c.split(b";")[0].strip().lower() for c in value.split(b",")}
            return b"gzip" in codings or b"*" in codings
    return False


def without_pathsend(scope: Scope) -> Scope:
    """``scope`` without the ``http.response.pathsend`` extension: Starlette's FileResponse
    may otherwise hand the file to the server instead of sending its bytes, which a
    middleware that rewrites bodies needs to see."""
    extensions = {k: v for k, v in (scope.get("extensions") or {}).items() if k != "http.response.pathsend"}
    return {**scope, "extensions": extensions}


class StaticGzipMiddleware:
    """Gzip the responses Streamlit leaves uncompressed (``/`` and ``/static/``), once per body.

    Only GET requests from clients that accept gzip, without a Range header, for complete
    200 responses of a textual type and at least ``MIN_SIZE`` bytes; anything else (HEAD,
    304, media, WebSocket, the app's own routes that Streamlit already compresses) passes
    through untouched."""

    def __init__(self, app: Callable, base_url: str | None = None, cache: GzipCache | None = None) -> None:
        self.app = app
        if base_url is None:  # Streamlit's own setting (the stack is built once config is loaded)
            import streamlit as st

            base_url = st.get_option("server.baseUrlPath") or ""
        self.base_url = base_url
        self.cache = cache if cache is not None else SHARED_CACHE

    def _eligible(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope.get("method") != "GET":
            return False
        path = _base(scope, self.base_url)
        if not (path == "/" or path.startswith("/static/")):
            return False
        headers = scope.get("headers") or []
        if any(name.lower() == b"range" for name, _ in headers):
            return False
        return _accepts_gzip(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._eligible(scope):
            await self.app(scope, receive, send)
            return
        scope = without_pathsend(scope)
        start: Message | None = None
        chunks: list[bytes] = []
        passing = False  # not compressible: forward messages as they come

        async def capture(message: Message) -> None:
            nonlocal start, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                headers = dict((k.lower(), v) for k, v in message.get("headers", []))
                if (message["status"] != 200 or b"content-encoding" in headers
                        or not COMPRESSIBLE.match(headers.get(b"content-type", b""))):
                    passing = True
                    await send(message)
                    return
                start = message
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._send_compressed(start, b"".join(chunks), send)
                return
            await send(message)

        await self.app(scope, receive, capture)

    async def _send_compressed(self, start: Message, body: bytes, send: Send) -> None:
        headers = [(k, v) for k, v in start.get("headers", [])
                   if k.lower() not in (b"content-length", b"vary", b"etag", b"accept-ranges")]
        if len(body) < MIN_SIZE:
            packed, extra = body, [(k, v) for k, v in start.get("headers", []) if k.lower() == b"etag"]
        else:
            packed = await anyio.to_thread.run_sync(self.cache.get, body)
            extra = [(b"content-encoding", b"gzip")]
            etag = next((v for k, v in start.get("headers", []) if k.lower() == b"etag"), None)
            if etag is not None:
                # another representation of the same file: a weak validator (as nginx does)
                extra.append((b"etag", etag if etag.startswith(b"W/") else b"W/" + etag))
        headers += extra + [(b"content-length", str(len(packed)).encode()), (b"vary", b"Accept-Encoding")]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": packed, "more_body": False})


SHARED_CACHE = GzipCache()

_ASSET = re.compile(r'(?:src|href)="\./(static/[^"?#]+\.(?:js|css))"')


def entry_assets(static_dir: Path) -> list[Path]:
    """The bundles Streamlit's ``index.html`` loads (script, module preloads, styles)."""
    html = (static_dir / "index.html").read_text(encoding="utf-8")
    return [static_dir / rel for rel in dict.fromkeys(_ASSET.findall(html)) if (static_dir / rel).is_file()]


def warm_static(static_dir: Path, cache: GzipCache | None = None) -> int:
    """Compress the entry page and its bundles now, so the first visitor does not wait for
    it (~0.5 s of CPU at level 9). Returns the number of plain bytes compressed."""
    cache = cache if cache is not None else SHARED_CACHE
    total = 0
    for path in [static_dir / "index.html", *entry_assets(static_dir)]:
        body = path.read_bytes()
        if len(body) >= MIN_SIZE:
            cache.get(body)
            total += len(body)
    return total
