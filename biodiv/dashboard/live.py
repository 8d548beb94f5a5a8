"""``biodiv dashboard --live``: the incremental update run in the background at a polite
interval while a workshop observes, so the screens show what the room observes.

Why a child process per round: ``biodiv update`` is the one writer (working copy,
atomic rename); run as its own process it cannot share DuckDB state with the server, and
its failure (no network, rate limit) never stops the dashboard. An update with nothing new
costs one request (the harvest's probe), so a 5-minute interval is ~12 requests an hour,
far within iNaturalist's limits; the interval is never shorter than ``MIN_INTERVAL_S``.
Each round's outcome goes to ``<db>.live.json`` (kept by :mod:`biodiv.store.runs`, the run
history's owner, which folds a failed round into ``runs`` at the next write), which the
pages read to say when data was last refreshed and whether the last attempt failed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from biodiv.errors import BiodivError
from biodiv.store.runs import live_status_path, read_live_status, write_live_status

MIN_INTERVAL_S = 60


def parse_interval(text: str) -> int:
    """``5m``, ``90s``, ``1h``, ``300`` → seconds (at least ``MIN_INTERVAL_S``)."""
    m = re.fullmatch(r"\s*(\d+)\s*([smh]?)\s*", str(text))
    if not m:
        raise BiodivError(f"--every must look like 5m, 90s or 1h, got {text!r}")
    seconds = int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    if seconds < MIN_INTERVAL_S:
        raise BiodivError(f"--every {text}: at least 1 minute between updates (iNaturalist's rate limits)")
    return seconds


# the live rounds' record belongs to the run history (biodiv.store.runs)
status_path = live_status_path
read_status = read_live_status
_write_status = write_live_status


class LiveUpdater:
    """Runs ``command`` (``biodiv update``) now and then every ``interval_s`` in a thread."""

    def __init__(self, db: Path, command: list[str], interval_s: int, env: dict | None = None,
                 cwd: Path | None = None, timeout_s: float | None = None) -> None:
        self.db, self.command, self.interval_s = Path(db), command, interval_s
        self.env, self.cwd = env, cwd
        self.timeout_s = timeout_s or max(interval_s * 3, 600)
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict:
        now = datetime.now(timezone.utc).isoformat()
        previous = read_status(self.db) or {}
        kinds: list[str] = []
        with tempfile.TemporaryDirectory(prefix="biodiv-live-") as tmp:
            error_file = Path(tmp) / "error.json"
            env = dict(self.env if self.env is not None else os.environ, BIODIV_ERROR_FILE=str(error_file))
            try:
                proc = subprocess.run(self.command, env=env, cwd=self.cwd, capture_output=True, text=True,
                                      timeout=self.timeout_s)
                ok = proc.returncode in (0, 3)          # 3 = partial: harvested, an optional layer missing
                lines = (proc.stderr or proc.stdout or "").strip().splitlines()
                message = None if ok else (lines[-1] if lines else f"exit code {proc.returncode}")
                if not ok and error_file.exists():
                    try:
                        kinds = list(json.loads(error_file.read_text(encoding="utf-8")).get("kinds") or [])
                    except (OSError, ValueError):
                        kinds = []
            except subprocess.TimeoutExpired as exc:
                ok, message, kinds = False, str(exc).splitlines()[0], ["Timeout"]
            except OSError as exc:
                ok, message = False, str(exc).splitlines()[0]
        # ``message`` (English, the command's own line) is kept for the log; the pages show the
        # French text of the first known kind (biodiv.dashboard.labels.failure_fr)
        status = {"attempt_at": now, "ok_at": now if ok else previous.get("ok_at"),
                  "status": "ok" if ok else "failed", "message": message, "kinds": kinds}
        _write_status(self.db, status)
        self.rounds += 1
        return status

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval_s)

    def start(self) -> "LiveUpdater":
        self._thread = threading.Thread(target=self._loop, name="biodiv-live", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()


def update_command(config: Path | None, db: Path | None = None) -> list[str]:
    """``biodiv update`` for the same configuration and database, in this Python."""
    cmd = [sys.executable, "-m", "biodiv"]
    if config is not None:
        cmd += ["--config", str(config)]
    if db is not None:
        cmd += ["--db", str(db)]
    return cmd + ["update", "--no-progress"]
