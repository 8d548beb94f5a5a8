"""Every request passes the rate limiter, retries included, and the client behaves as
iNaturalist asks (issue 22 item 4, issue 24 item 4).

Real HTTP on 127.0.0.1 to the stand-in (real-shaped records); the request times are the
ones the server saw. Cases: 25 % server errors at ``per_second = 1`` keep the 5-per-5 s
window; a persistent 429 stops the run without falling back to v1; a 429 without
``Retry-After`` waits until the next minute; three folders harvesting at once share one
limit (per machine and user, not per ``cache_dir``); v2 reads obey ``[inaturalist] timeout``;
the contact is in the User-Agent; reconciliation asks ``only_id`` pages of 200.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from biodiv.config import ConfigError, InatConfig
from biodiv.inat.client import InatClient, InatError, InatUnreachable, _retry_after
from biodiv.inat.fields import OBSERVATION_FIELDS
from biodiv.inat.harvest import harvest
from helpers_harvest import ObservationSet, StandInInat, Taxonomy, build_template, harvest_config

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def world():
    tax = Taxonomy(20)
    return tax, ObservationSet(300, tax)


def _worst(times: list[float], window: float) -> int:
    """The most requests in any ``window`` seconds starting at a request."""
    times = sorted(times)
    return max((sum(1 for t in times if start <= t < start + window) for start in times), default=0)


def test_retries_of_server_errors_pass_the_limiter(tmp_path, world):
    """One request in four answered 500: the retries wait for the limiter like any request,
    so no 5 s window holds more than ``per_second × 5`` requests (before: 13 in 5 s)."""
    tax, obs = world
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url, per_second=1, per_minute=60, max_retries=10)
        api.fault_rate = ("500", 0.25, random.Random(4))
        client = InatClient(cfg)
        try:
            for _ in range(9):
                client.observations({"per_page": 1, "only_id": "true"})
        finally:
            client.close()
        times, every = list(api.times), api.count
    assert every >= 11                     # errors did happen (9 answers), and were retried
    # the answered requests and the failed ones alike, as the server received them
    assert _worst(times, 4.5) <= 5, [round(t - times[0], 3) for t in times]
    assert max(times) - min(times) >= (every - 5) * 0.9 - 1.0   # paced at ~1 a second after the burst


def test_persistent_429_stops_without_falling_back_to_v1(tmp_path, world, template_db):
    """iNaturalist answering 429 to everything: the run stops after ``max_retries`` tries,
    with the 429 in its message, and never asks v1 (which would send more)."""
    tax, obs = world
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url, max_retries=2)
        shutil.copyfile(template_db, cfg.db)
        api.faults.extend(["429"] * 50)
        with pytest.raises(InatError, match="429") as info:
            with cfg.store().write() as con:
                harvest(cfg, con, progress=False, attach=False)
        sent = api.count
    assert info.value.status == 429
    assert not api.requests_to("/v1/"), [p for p, _, _ in api.log]
    assert sent == 3        # the first try and max_retries more, nothing else


def test_429_without_retry_after_waits_for_the_next_minute(tmp_path, world):
    """The wait after a bare 429 is what remains of the current minute (the waits are
    recorded instead of slept, so the test does not last a minute); with a Retry-After it is
    the server's figure."""
    tax, obs = world
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url)
        client = InatClient(cfg)
        waits: list[tuple[float, float]] = []
        client.sleep = lambda s: waits.append((s, time.time()))
        api.faults.extend(["429bare", "ok", "429", "ok"])
        try:
            assert client.observations({"per_page": 1, "only_id": "true"})["results"]
            assert client.observations({"per_page": 1, "only_id": "true"})["results"]
        finally:
            client.close()
    (bare, at), (given, _) = waits
    assert abs((at + bare) % 60 - 0.5) < 0.2 and 0.5 <= bare <= 60.5, (bare, at)
    assert given == 0.0                     # the stand-in's "Retry-After: 0"
    # the pure rule, on a clock 20.25 s into a minute
    response = requests.Response()
    assert _retry_after(response, now=lambda: 60 * 16_667 + 20.25) == pytest.approx(60 - 20.25 + 0.5)
    response.headers["Retry-After"] = "7"
    assert _retry_after(response) == 7.0


HTTP_SCRIPT = """
import sys, time
from biodiv.config import load_config
from biodiv.inat.client import InatClient
cfg = load_config(sys.argv[1])
client = InatClient(cfg)
start = float(sys.argv[3])
time.sleep(max(start - time.time(), 0))
for _ in range(int(sys.argv[2])):
    client.observations({"per_page": 1, "only_id": "true"})
"""


def test_three_folders_share_one_limit(tmp_path, world, monkeypatch):
    """Three stores (three ``cache_dir``) harvested by one user at once: one limit for all,
    as the README says (before: one per folder, 17 requests in 5 s)."""
    monkeypatch.delenv("BIODIV_RATELIMIT_DIR", raising=False)
    tax, obs = world
    with StandInInat(obs, tax) as api:
        files = []
        for k in range(3):
            folder = tmp_path / f"store{k}"
            folder.mkdir()
            cfg = harvest_config(folder, api.url, per_second=1, per_minute=60)
            files.append(cfg.save(folder / "biodiv.toml"))
        times: list[float] = []
        api.on_request = lambda server: times.append(time.time())
        start = time.time() + 4.0
        procs = [subprocess.Popen([sys.executable, "-c", HTTP_SCRIPT, str(f), "4", str(start)], cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    assert len(times) == 12
    assert _worst(times, 4.5) <= 5, sorted(t - start for t in times)
    assert max(times) - min(times) >= 9.5


def test_v2_reads_obey_the_configured_timeout(tmp_path, world):
    """A v2 read (a POST) that takes longer than ``[inaturalist] timeout`` is given up like
    any other (before: pyinaturalist's 60 s write timeout applied to it)."""
    tax, obs = world
    with StandInInat(obs, tax, sleep_timeout=2.5) as api:
        cfg = harvest_config(tmp_path, api.url, timeout=0.5, max_retries=0)
        client = InatClient(cfg)
        api.faults.append("timeout")
        began = time.monotonic()
        try:
            with pytest.raises(InatUnreachable):
                client.observations_v2({"per_page": 1}, OBSERVATION_FIELDS)
        finally:
            client.close()
        assert time.monotonic() - began < 2.0


def test_contact_goes_in_the_user_agent(tmp_path, world):
    tax, obs = world
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url, contact="sig@cc-exemple.fr")
        client = InatClient(cfg)
        try:
            client.observations({"per_page": 1})
        finally:
            client.close()
    agent = api.log[-1][2]["User-Agent"]
    assert "biodiv/" in agent and "contact: sig@cc-exemple.fr" in agent
    for bad in ("not a contact", "ftp://x", "a@b"):
        with pytest.raises(ConfigError, match="contact"):
            InatConfig(contact=bad)
    assert InatConfig(contact="https://cc-exemple.fr/biodiv").contact


def test_reconciliation_asks_id_pages_of_200(tmp_path, world, template_db):
    """The real API caps ``only_id`` pages at 200: asking 1,000 was 5× the documented
    requests; 200 is asked, and every id is listed."""
    tax, obs = world
    with StandInInat(obs, tax, only_id_cap=200) as api:
        cfg = harvest_config(tmp_path, api.url)
        shutil.copyfile(template_db, cfg.db)
        with cfg.store().write() as con:
            harvest(cfg, con, progress=False, attach=False)
            summary = harvest(cfg, con, progress=False, attach=False, reconcile=True)
    listing = [q for path, q, _ in api.requests_to("/v1/observations") if q.get("only_id") == "true"]
    assert listing and all(q["per_page"] == "200" for q in listing)
    assert summary["reconcile_pages"] == len(listing) == -(-len(obs.ids()) // 200)
    assert summary["removed"] == 0


def test_a_limiter_wait_beyond_max_delay_waits_and_asks_again(tmp_path, world):
    """When the shared limiter would hold a request longer than pyinaturalist's ``max_delay``
    (other processes of the user asking too), the client waits the remaining time and asks
    again instead of failing with a traceback (``max_delay`` lowered so that the test lasts
    seconds, not minutes)."""
    tax, obs = world
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url, per_second=1, per_minute=60)
        client = InatClient(cfg)
        client.session.max_delay = 0.05
        try:
            for _ in range(7):
                client.observations({"per_page": 1, "only_id": "true"})
        finally:
            client.close()
        times = list(api.times)
    assert len(times) == 7 and _worst(times, 4.5) <= 5
