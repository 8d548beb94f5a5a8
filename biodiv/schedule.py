"""A scheduled ``biodiv update`` that works: a systemd user timer or a crontab line whose
command is the absolute path of this installation, with the configuration and database
spelled out.

Why a command for it: the guides' cron line (``cd … && .venv/bin/biodiv update``) failed in
cron's bare environment when copied from another folder (exit 127, the error only in a log
nobody reads). Here the command is ``<this Python> -m biodiv --config <absolute path> update``
(the Python of the virtual environment biodiv is installed in), which needs no ``PATH``, no
current folder and no activated environment; its output goes to ``data/update.log`` beside
the configuration. Exit code 3 (partial: an optional layer missing) counts as success.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from biodiv.errors import BiodivError

TAG = "# biodiv-update"
UNIT = "biodiv-update"


class ScheduleError(BiodivError):
    pass


@dataclass
class Schedule:
    method: str                 # systemd or cron
    command: list[str]          # run in ``folder``
    log: Path
    hour: int
    minute: int
    files: dict[str, str]       # path -> content (systemd) or {"crontab": line}
    folder: Path


def parse_time(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d{1,2})[:hH](\d{2})\s*", text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ScheduleError(f"--at must be a time of day HH:MM (e.g. 06:15), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def update_command(config_file: Path | None, db: Path | None) -> list[str]:
    """The update as a command that runs from anywhere: absolute interpreter and paths."""
    cmd = [str(Path(sys.executable).absolute()), "-m", "biodiv"]
    if config_file is not None:
        cmd += ["--config", str(Path(config_file).resolve())]
    if db is not None:
        cmd += ["--db", str(Path(db).resolve())]
    return cmd + ["update", "--no-progress"]


def systemd_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def plan(method: str, at: str, config_file: Path | None, db: Path | None, log: Path, folder: Path) -> Schedule:
    """``folder``: where the command runs (the configuration's folder: a relative ``db_path``
    and a first ``biodiv init`` resolve there, as when the officer runs it by hand)."""
    hour, minute = parse_time(at)
    cmd = update_command(config_file, db)
    folder = Path(folder).resolve()
    if method == "systemd":
        unit_dir = systemd_dir()
        service = (
            "[Unit]\nDescription=biodiv: daily update of the iNaturalist observations\n\n"
            "[Service]\nType=oneshot\n"
            f"WorkingDirectory={folder}\n"
            f"ExecStart={' '.join(shlex.quote(c) for c in cmd)}\n"
            f"StandardOutput=append:{log}\nStandardError=append:{log}\n"
            "SuccessExitStatus=3\n"
        )
        timer = (
            "[Unit]\nDescription=biodiv update every day\n\n"
            f"[Timer]\nOnCalendar=*-*-* {hour:02d}:{minute:02d}\nRandomizedDelaySec=10min\nPersistent=true\n\n"
            "[Install]\nWantedBy=timers.target\n"
        )
        files = {str(unit_dir / f"{UNIT}.service"): service, str(unit_dir / f"{UNIT}.timer"): timer}
    elif method == "cron":
        line = (f"{minute} {hour} * * * cd {shlex.quote(str(folder))} && {' '.join(shlex.quote(c) for c in cmd)} "
                f">> {shlex.quote(str(log))} 2>&1 {TAG}")
        files = {"crontab": line}
    else:
        raise ScheduleError(f"unknown method {method!r}: systemd or cron")
    return Schedule(method, cmd, log, hour, minute, files, folder)


def default_method() -> str:
    """systemd when a user manager answers, else cron when installed."""
    if shutil.which("systemctl"):
        probe = subprocess.run(["systemctl", "--user", "is-system-running"], capture_output=True, text=True)
        if probe.stdout.strip() not in ("", "offline") and "Failed to connect" not in probe.stderr:
            return "systemd"
    if shutil.which("crontab"):
        return "cron"
    raise ScheduleError("neither a systemd user manager nor cron is available here: "
                        "run `biodiv schedule daily --print` and add the command to your scheduler")


def install(s: Schedule, enable: bool = True) -> list[str]:
    """Write the timer (and enable it) or replace biodiv's crontab line; returns what was done."""
    s.log.parent.mkdir(parents=True, exist_ok=True)
    done = []
    if s.method == "systemd":
        for path, text in s.files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
            done.append(f"wrote {path}")
        if enable:
            for args in (["daemon-reload"], ["enable", "--now", f"{UNIT}.timer"]):
                proc = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True)
                if proc.returncode != 0:
                    raise ScheduleError(f"systemctl --user {' '.join(args)} failed: "
                                        f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:] or ['?']}"[:300])
            done.append(f"enabled {UNIT}.timer (systemctl --user list-timers shows it)")
        return done
    if not shutil.which("crontab"):
        raise ScheduleError("crontab is not installed (Debian: apt install cron), or use --method systemd")
    current = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    lines = [ln for ln in (current.stdout.splitlines() if current.returncode == 0 else []) if not ln.endswith(TAG)]
    lines.append(s.files["crontab"])
    proc = subprocess.run(["crontab", "-"], input="\n".join(lines) + "\n", capture_output=True, text=True)
    if proc.returncode != 0:
        raise ScheduleError(f"crontab refused the line: {proc.stderr.strip()}")
    done.append(f"crontab line added (replaces any previous biodiv line): {s.files['crontab']}")
    return done
