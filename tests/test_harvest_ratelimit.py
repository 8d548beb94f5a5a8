"""The request rate holds across processes running at the same time (issue 10, item 5): a
no-change update asks its request without the store's writer lock, and ``biodiv dashboard
--live`` updates in the background while an officer runs ``biodiv update``.

Two proofs, both with processes started at once:

* real HTTP on 127.0.0.1: the burst window (``per_second × 5`` requests per 5 s) counted
  on the requests the stand-in server received;
* the per-minute window, whose real length would make the test last minutes: the
  decisions of the very buckets ``make_session`` builds (pyinaturalist's session, its
  SQLite file and file lock), asked without waiting by concurrent and restarted
  processes on one clock running 30 times faster than the wall clock (the limiter's
  ``time_function``); every grant is counted in every sliding 60 s window of that clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from helpers_harvest import ObservationSet, StandInInat, Taxonomy, harvest_config

REPO = Path(__file__).resolve().parent.parent

HTTP_SCRIPT = """
import sys, time
from biodiv.config import load_config
from biodiv.inat.client import InatClient
cfg = load_config(sys.argv[1])
client = InatClient(cfg)
start = float(sys.argv[3])
time.sleep(max(start - time.time(), 0))        # every process begins at the same instant
for _ in range(int(sys.argv[2])):
    client.observations({"per_page": 1, "only_id": "true"})
"""

BUCKET_SCRIPT = """
import json, sys, time
from pyrate_limiter import BucketFullException
from biodiv.config import load_config
from biodiv.inat.client import make_session
cfg = load_config(sys.argv[1])
t0, scale, start, stop = (float(a) for a in sys.argv[2:6])
bucket = sys.argv[6]      # one name per test run: the buckets' file is shared by the user's processes
session = make_session(cfg)
limiter = session.limiter
last = [0.0]


def clock():
    # the time of each decision, as the limiter reads it (once per try_acquire)
    last[0] = t0 + (time.time() - t0) * scale
    return last[0]


limiter.time_function = clock
granted = []
time.sleep(max(start - time.time(), 0))
while time.time() < stop:
    try:
        limiter.try_acquire(bucket)
        granted.append(round(last[0], 3))      # the time the bucket stored
    except BucketFullException:
        pass
    time.sleep(0.01)
print(json.dumps(granted))
"""


def _worst(times: list[float], window: float) -> int:
    """The most events in any window of ``window`` seconds starting at an event."""
    times = sorted(times)
    return max((sum(1 for t in times if start <= t < start + window) for start in times), default=0)


def test_concurrent_processes_share_the_burst_window(tmp_path):
    """Three processes at once, four requests each, at ``per_second = 1`` (5 per 5 s)."""
    tax = Taxonomy(5)
    with StandInInat(ObservationSet(50, tax), tax) as api:
        cfg = harvest_config(tmp_path, api.url, per_second=1, per_minute=60)
        cfg_file = cfg.save(tmp_path / "biodiv.toml")
        times: list[float] = []
        api.on_request = lambda server: times.append(time.time())
        start = time.time() + 4.0           # time for the three interpreters to import
        procs = [subprocess.Popen([sys.executable, "-c", HTTP_SCRIPT, str(cfg_file), "4", str(start)], cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    assert len(times) == 12
    assert min(times) >= start - 0.5                 # they did start together
    # the server's clock: any 5 s window (less 0.5 s of transit jitter) holds at most 5
    assert _worst(times, 4.5) <= 5, sorted(t - start for t in times)
    # 12 requests at 5 per 5 s need at least 10 s (a per-process bucket: about one second)
    assert max(times) - min(times) >= 9.5


@pytest.mark.parametrize("per_second, per_minute", [(2, 12)])
def test_per_minute_holds_for_concurrent_and_restarted_processes(tmp_path, per_second, per_minute):
    """Four processes at once ask the shared buckets as fast as they can for 1.5 s of wall
    clock (45 s of the 30× clock), then four new ones (restarts) for 2.5 s more: never more
    than ``per_minute`` grants in any 60 s window nor ``per_second × 5`` in any 5 s one,
    and the limit is not met by refusing everything."""
    cfg = harvest_config(tmp_path, "http://127.0.0.1:9/v1", per_second=per_second, per_minute=per_minute)
    cfg_file = cfg.save(tmp_path / "biodiv.toml")
    scale = 30.0
    t0 = time.time() + 5.0             # time for the interpreters to import
    bucket = f"inat.test.{uuid.uuid4().hex}"

    def wave(start, stop) -> list[list[float]]:
        procs = [subprocess.Popen([sys.executable, "-c", BUCKET_SCRIPT, str(cfg_file), str(t0), str(scale),
                                   str(start), str(stop), bucket], cwd=REPO, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        out = []
        for proc in procs:
            stdout, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            out.append(json.loads(stdout))
        return out

    first = wave(t0, t0 + 1.5)
    restart = time.time() + 3.0
    second = wave(restart, restart + 2.5)
    every = [t for g in first + second for t in g]
    assert _worst(every, 60.0) <= per_minute, sorted(t - t0 for t in every)
    assert _worst(every, 5.0) <= per_second * 5, sorted(every)
    # the buckets do grant: at least the burst at once, to more than one process
    assert per_second * 5 <= sum(map(len, first)) <= per_minute
    assert sum(1 for g in first if g) >= 2
    assert any(second)                       # the restarted processes too, once the window moved
