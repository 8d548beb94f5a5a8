"""``biodiv schedule daily``: the scheduled command runs in cron's and systemd's bare
environment (no PATH, no activated venv, another current folder), and a second schedule
replaces the first."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from biodiv.schedule import ScheduleError, parse_time, plan


# every service on a closed local port: the scheduled update fails at once, offline
OFFLINE = ('[inaturalist]\napi_url = "http://127.0.0.1:9/v1"\ntimeout = 2\n'
           '[sources]\ngeo_api_url = "http://127.0.0.1:9"\nwfs_url = "http://127.0.0.1:9/wfs"\n')


def run_cli(args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "biodiv", *args], cwd=cwd, capture_output=True, text=True,
                          env=env or dict(os.environ), timeout=120)


def test_systemd_timer_files_hold_a_command_that_runs_in_a_bare_environment(tmp_path):
    folder = tmp_path / "projet"
    folder.mkdir()
    (folder / "biodiv.toml").write_text(OFFLINE)
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    proc = run_cli(["schedule", "daily", "--method", "systemd", "--no-enable", "--at", "05:30"], folder, env)
    assert proc.returncode == 0, proc.stderr
    unit = (tmp_path / "xdg" / "systemd" / "user" / "biodiv-update.service").read_text()
    timer = (tmp_path / "xdg" / "systemd" / "user" / "biodiv-update.timer").read_text()
    assert "OnCalendar=*-*-* 05:30" in timer and "SuccessExitStatus=3" in unit
    workdir = next(ln.split("=", 1)[1] for ln in unit.splitlines() if ln.startswith("WorkingDirectory="))
    command = shlex.split(next(ln.split("=", 1)[1] for ln in unit.splitlines() if ln.startswith("ExecStart=")))
    assert os.path.isabs(command[0]) and "--config" in command and command[-2:] == ["update", "--no-progress"]
    # as systemd runs it: an empty environment, the unit's folder; iNaturalist unreachable here,
    # so the update ends with its one-line offline message, not "command not found" (127)
    bare = subprocess.run(command, cwd=workdir, env={}, capture_output=True, text=True, timeout=120)
    assert bare.returncode not in (126, 127)
    assert "cannot be reached" in bare.stderr or "biodiv demo" in bare.stderr, bare.stderr


def test_cron_line_runs_from_home_in_a_bare_environment(tmp_path):
    (tmp_path / "biodiv.toml").write_text(OFFLINE)
    s = plan("cron", "6:15", tmp_path / "biodiv.toml", None, tmp_path / "data" / "update.log", tmp_path)
    line = s.files["crontab"]
    assert line.startswith("15 6 * * * cd ") and line.endswith("# biodiv-update")
    shell = line.split(" ", 5)[5].rsplit(" # ", 1)[0]
    (tmp_path / "data").mkdir()          # install() creates it
    bare = subprocess.run(["/bin/sh", "-c", shell.replace(">> ", "> ", 1)], cwd="/", env={}, capture_output=True,
                          text=True, timeout=120)
    log = (tmp_path / "data" / "update.log").read_text()
    assert bare.returncode not in (126, 127), (bare.returncode, log)
    assert "cannot be reached" in log or "biodiv demo" in log, log


@pytest.mark.parametrize("bad", ["25:00", "6", "six heures", "06:61"])
def test_bad_time_is_one_line(bad, tmp_path):
    with pytest.raises(ScheduleError, match="HH:MM"):
        parse_time(bad)
    proc = run_cli(["schedule", "daily", "--method", "cron", "--print", "--at", bad], tmp_path)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
