"""Smoke test of biodiv as a new user installs it: build the wheel, install it (not editable)
in a fresh virtual environment, and run the installed ``biodiv`` from an empty folder.

Checks: ``biodiv demo``, ``biodiv query list``, ``biodiv --demo status`` and
``biodiv --demo query run``, then ``biodiv dashboard --demo``: its pages answer HTTP 200,
the Leaflet files come from the per-user folder, the map draws in headless Chromium when
Chromium and Playwright are there, and the server's log holds no traceback; nothing is
written into site-packages. Run by ``.ci/run``; alone:
``.venv/bin/python .ci/smoke_wheel.py`` (from a checkout whose .venv has the test extras).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, **kw) -> str:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        sys.exit(f"smoke: {cmd[0]} {' '.join(map(str, cmd[1:3]))} failed ({proc.returncode}):\n"
                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def check(condition: bool, message: str) -> None:
    if not condition:
        sys.exit(f"smoke: {message}")


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_and_install(work: Path) -> Path:
    """The wheel, built from this checkout, installed in a new venv: its ``bin`` folder."""
    dist = work / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)], cwd=work)
    shutil.rmtree(REPO / "build", ignore_errors=True)   # setuptools' in-tree build folder
    wheels = sorted(dist.glob("biodiv-*.whl"))
    check(len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=work)
    run([str(venv / "bin" / "pip"), "install", "-q", str(wheels[0])], cwd=work)
    return venv / "bin"


def site_packages(bin_dir: Path) -> Path:
    out = run([str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
              cwd=bin_dir)
    return Path(out.strip())


def dashboard(bin_dir: Path, here: Path, env: dict[str, str]) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = here / "dashboard.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(bin_dir / "biodiv"), "dashboard", "--demo", "--port", str(port)],
                                cwd=here, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while get_ok(f"{url}/_stcore/health") is False:
            check(proc.poll() is None, f"the dashboard exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            check(time.monotonic() < deadline, "the dashboard did not answer in 120 s")
            time.sleep(0.5)
        for page in ("/", "/carte", "/fiche-commune"):
            status, body = get(url + page)
            check(status == 200 and b"<head>" in body, f"GET {page}: HTTP {status}")
        status, body = get(f"{url}/app/static/vendor/leaflet/leaflet.js")
        check(status == 200 and len(body) > 100_000, f"Leaflet not served from the per-user folder: HTTP {status}")
        browse(url)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")
    check("Traceback" not in text and "Error" not in text, f"the dashboard's log has an error:\n{text[-3000:]}")
    print(f"dashboard: pages 200, Leaflet served, log clean ({len(text.splitlines())} lines)")


def get_ok(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


def browse(url: str) -> None:
    """The Carte page in headless Chromium with no network: the map draws, no error shows.
    Skipped (said so) where Chromium or Playwright is missing."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))   # the browser harness
        from helpers_browser import CHROMIUM, chromium, visit
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        print(f"browser check skipped: {exc}")
        return
    if not CHROMIUM.exists():
        print(f"browser check skipped: no {CHROMIUM}")
        return
    with chromium() as browser:
        seen = visit(browser, f"{url}/carte", min_polygons=1)
    check(seen.seconds_to_map is not None, f"the map did not draw; page text: {seen.text[:1000]}")
    check("Traceback" not in seen.text and "Error" not in seen.text, f"the page shows an error: {seen.text[:1000]}")
    check("démonstration" in seen.text.lower(), "the demo banner is missing")
    print(f"browser: map drawn in {seen.seconds_to_map:.1f} s")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="biodiv-smoke-") as tmp:
        work = Path(tmp)
        bin_dir = build_and_install(work)
        site = site_packages(bin_dir)
        before = {p.name for p in site.iterdir()}
        here = work / "elsewhere"          # an empty folder: no checkout, no biodiv.toml
        here.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIODIV_")}
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        biodiv = str(bin_dir / "biodiv")

        out = run([biodiv, "demo"], cwd=here, env=env)
        check((here / "data" / "demo.duckdb").is_file(), f"biodiv demo wrote no data/demo.duckdb: {out}")
        out = run([biodiv, "query", "list"], cwd=here, env=env)
        shipped = sorted(p.stem for p in (REPO / "queries").glob("*.sql"))
        listed = sorted(line.split()[0] for line in out.splitlines() if line.strip())
        check(listed == shipped, f"biodiv query list: {listed} != queries/ {shipped}")
        out = run([biodiv, "--demo", "status"], cwd=here, env=env)
        check("demo.duckdb" in out, f"biodiv --demo status did not read the demo file:\n{out}")
        out = run([biodiv, "--demo", "query", "run", "commune_richness", "--format", "csv"], cwd=here, env=env)
        check(len(out.splitlines()) > 2, f"biodiv --demo query run gave no rows:\n{out}")
        print(f"commands: demo, query list ({len(listed)} queries), --demo status, --demo query run")
        # documents and the public atlas from the installed package (templates and font shipped)
        out = run([biodiv, "--demo", "report", "territory", "--out", str(here / "fiche.pdf")], cwd=here, env=env)
        check((here / "fiche.pdf").read_bytes()[:5] == b"%PDF-", f"biodiv report territory wrote no PDF:\n{out}")
        out = run([biodiv, "--demo", "publish", "site", "--out", str(here / "atlas")], cwd=here, env=env)
        check((here / "atlas" / "index.html").exists(), f"biodiv publish site wrote no index.html:\n{out}")
        print("commands: --demo report territory, --demo publish site")

        dashboard(bin_dir, here, env)

        added = {p.name for p in site.iterdir()} - before
        check(not added, f"written into site-packages: {sorted(added)}")
        for name in ("static", "app.py", "queries", ".streamlit"):
            check(not (site / name).exists(), f"{site / name} exists")
    print("smoke test of the installed wheel: ok")


if __name__ == "__main__":
    main()
