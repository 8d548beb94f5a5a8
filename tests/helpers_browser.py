"""A real Streamlit server and headless Chromium, for the end-to-end tests and the benchmark.

Why one harness for three users: the browser tests, ``bench/dashboard.py`` and the wheel's
smoke test (``.ci/smoke_wheel.py``) must see the same thing (a page of the real app, served
by a real Streamlit server, drawn by Debian's Chromium with no network); bench and .ci put
``tests/`` on their path to import it. It is a test harness, so it lives with the tests, not
in the installed package. Playwright comes from PyPI and drives Debian's Chromium
(``$BIODIV_CHROMIUM``, else ``chromium`` on the PATH, else ``/usr/bin/chromium``) through
``executable_path`` (no browser download).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

CHROMIUM = Path(os.environ.get("BIODIV_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
# No network but this machine: every non-loopback request goes to a closed local port and
# fails at once (loopback bypasses proxies). Unlike Playwright request routing, this keeps
# the browser's HTTP cache working and adds no per-request round trip to the measurement.
OFFLINE_ARGS = ["--proxy-server=http://127.0.0.1:9"]

# JavaScript run inside the map iframe: size of the Leaflet container, the number of
# polygon / point features drawn (layers are on a canvas, so they are counted via Leaflet),
# and the commune names shown (text markers).
MAP_PROBE_JS = """() => {
  const c = document.querySelector('.leaflet-container');
  if (!c || typeof L === 'undefined') return null;
  let polygons = 0, points = 0, maps = 0;
  for (const k of Object.keys(window)) {
    const m = window[k];
    if (!k.startsWith('map_') || !(m instanceof L.Map)) continue;
    maps++;
    m.eachLayer(l => {
      const g = l.feature && l.feature.geometry;
      if (!g) return;
      if (g.type.includes('Polygon')) polygons++;
      if (g.type === 'Point') points++;
    });
  }
  const names = [...document.querySelectorAll('.biodiv-name')].map(n => n.textContent);
  return {height: c.getBoundingClientRect().height, width: c.getBoundingClientRect().width,
          maps, polygons, points, names};
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path


@contextmanager
def streamlit_server(db: Path, config: Path | None = None, timeout: float = 60.0,
                     log_dir: Path | None = None) -> Iterator[Server]:
    """The dashboard's server (biodiv.dashboard.server.serve, as ``biodiv dashboard`` runs it)
    on 127.0.0.1, free port, reading ``db``, started in the log's folder (any folder works);
    stopped on exit."""
    port = free_port()
    env = dict(os.environ, BIODIV_DB=str(db))
    if config is not None:
        env["BIODIV_CONFIG"] = str(config)
    else:
        env.pop("BIODIV_CONFIG", None)
    log = (log_dir or Path(db).parent) / f"streamlit-{port}.log"
    cwd = log.parent
    cmd = [sys.executable, "-m", "biodiv.dashboard.server.serve",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
           "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited ({proc.returncode}): {log.read_text()[-500:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start in {timeout} s")
            time.sleep(0.2)
        yield Server(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class PageVisit:
    """What one navigation measured."""

    seconds_to_map: float | None
    bytes_http: int          # HTTP bodies as transferred (encoded)
    bytes_ws: int            # WebSocket frames (Streamlit page content, map HTML included)
    blocked: list[str] = field(default_factory=list)
    probe: dict | None = None
    text: str = ""
    responses: list[tuple[str, int]] = field(default_factory=list)  # (url, encoded bytes)

    @property
    def bytes_received(self) -> int:
        return self.bytes_http + self.bytes_ws


@contextmanager
def chromium() -> Iterator[object]:
    """A Playwright Chromium browser (Debian's binary), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + OFFLINE_ARGS,
                                     headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser):
    """A browser context (empty cache); requests that fail (no network) are recorded."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.blocked = []
    context.on("requestfailed", lambda req: context.blocked.append(req.url))
    return context


# A page is complete when nothing came over the network (HTTP or WebSocket) for this long,
# longer than the dashboard's pause after the map (biodiv/dashboard/pacing.py).
QUIET_S = 1.5


def visit(browser, url: str, timeout: float = 60.0, screenshot: Path | None = None,
          min_polygons: int = 1, context=None, complete: bool = False) -> PageVisit:
    """Open ``url`` (in a fresh no-network context unless one is given) and return the time
    until the Leaflet map is drawn with at least ``min_polygons`` polygons, and the bytes
    received over HTTP and WebSocket: until then, or with ``complete`` until the whole
    page has arrived (what is drawn after the map included: the charts, the filters and
    the code they load; no network activity for ``QUIET_S``)."""
    own = context is None
    if own:
        context = new_context(browser)
    received = [0, 0]
    page = context.new_page()
    # Bytes as the network sees them: HTTP bodies (encoded) plus WebSocket frames, which
    # carry Streamlit's page content, the map HTML included.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")

    urls: dict[str, str] = {}
    responses: list[tuple[str, int]] = []
    activity = [time.monotonic(), 0]    # last network event, requests in flight

    def on_request(ev):
        activity[0], activity[1] = time.monotonic(), activity[1] + 1

    def on_response(ev):
        urls[ev["requestId"]] = ev["response"]["url"]

    def on_loaded(ev):
        activity[0], activity[1] = time.monotonic(), max(0, activity[1] - 1)
        n = int(ev.get("encodedDataLength", 0))
        received[0] += n
        if ev["requestId"] in urls:
            responses.append((urls[ev["requestId"]], n))

    def on_failed(ev):
        activity[0], activity[1] = time.monotonic(), max(0, activity[1] - 1)

    def on_frame(ev):
        activity[0] = time.monotonic()
        payload = ev.get("response", {}).get("payloadData", "")
        received[1] += len(payload) * 3 // 4 if ev.get("response", {}).get("opcode") == 2 else len(payload)

    cdp.on("Network.requestWillBeSent", on_request)
    cdp.on("Network.loadingFailed", on_failed)
    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.loadingFinished", on_loaded)
    cdp.on("Network.webSocketFrameReceived", on_frame)
    start = time.monotonic()
    page.goto(url, wait_until="commit")
    probe = None
    elapsed = None
    deadline = start + timeout
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        for frame in page.frames:
            try:
                p = frame.evaluate(MAP_PROBE_JS)
            except Exception:
                continue
            if p and p["height"] > 0 and p["polygons"] >= min_polygons:
                probe = p
                break
        if probe:
            elapsed = time.monotonic() - start
            break
    page.wait_for_timeout(300)
    while complete and time.monotonic() < deadline and (
            activity[1] > 0 or time.monotonic() - activity[0] < QUIET_S):
        page.wait_for_timeout(100)
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=False)
    text = page.inner_text("body")
    page.close()
    blocked = list(context.blocked)
    if own:
        context.close()
    return PageVisit(elapsed, received[0], received[1], blocked, probe, text, responses)
