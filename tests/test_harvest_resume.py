"""A harvest killed with SIGKILL at a random page resumes from its cursor: nothing lost, nothing twice."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from biodiv.inat.harvest import harvest
from helpers_harvest import ObservationSet, StandInInat, Taxonomy, build_template, harvest_config

REPO = Path(__file__).resolve().parent.parent
N = 1200   # six pages


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("template"))


def _cli(cfg_file: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "biodiv", "--config", str(cfg_file), "harvest", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.parametrize("seed", [11, 23, 47])
def test_sigkill_at_random_page_then_resume(tmp_path, template_db, seed):
    rng = random.Random(seed)
    kill_after_page = rng.randint(2, 4)
    delay = rng.uniform(0.0, 0.08)
    tax = Taxonomy(40)
    obs = ObservationSet(N, tax, seed=seed)
    with StandInInat(obs, tax) as api:
        cfg = harvest_config(tmp_path, api.url)
        shutil.copyfile(template_db, cfg.db)
        cfg_file = cfg.save(tmp_path / "biodiv.toml")
        proc = _cli(cfg_file, "--no-progress")

        def maybe_kill(server):
            if server.obs_pages == kill_after_page:
                threading.Timer(delay, proc.send_signal, [signal.SIGKILL]).start()

        api.on_request = maybe_kill
        proc.wait(timeout=120)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        api.on_request = None
        killed_requests = len(api.log)
        store = cfg.store()
        assert not store.exists() or store.path.stat().st_size > 0
        assert store.wip_path.exists()        # the killed run's committed pages wait there

        if seed == 47:
            # resume through the CLI, which also shows the summary
            proc = _cli(cfg_file)
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            for label in ("resumed", "new", "updated", "unchanged", "removed", "requests made", "duration"):
                assert label in out
            assert "req/min" in err and "pages" in err and "ETA" in err    # the progress bar
            with store.read() as con:
                ids, distinct, raws = con.execute(
                    "SELECT count(*), count(DISTINCT id), (SELECT count(*) FROM observation_raw) FROM observations"
                ).fetchone()
                runs = con.execute("SELECT status FROM runs WHERE kind = 'harvest' ORDER BY id").fetchall()
                stored = [r[0] for r in con.execute("SELECT id FROM observations ORDER BY id").fetchall()]
            summary = None
        else:
            with store.write() as con:
                summary = harvest(cfg, con, progress=False, attach=False)
                ids, distinct, raws = con.execute(
                    "SELECT count(*), count(DISTINCT id), (SELECT count(*) FROM observation_raw) FROM observations"
                ).fetchone()
                runs = con.execute("SELECT status FROM runs WHERE kind = 'harvest' ORDER BY id").fetchall()
                stored = [r[0] for r in con.execute("SELECT id FROM observations ORDER BY id").fetchall()]

    assert stored == obs.ids() and ids == distinct == raws == N
    assert [r[0] for r in runs] == ["interrupted", "ok"]
    resumed_first = api.log[killed_requests]
    assert resumed_first[0] == "/v2/observations"
    cursor = int(resumed_first[1]["id_above"])
    # the resumed run starts at a committed page boundary, never from scratch
    boundaries = {obs.ids()[200 * k - 1] for k in range(1, N // 200)}
    assert cursor in boundaries and cursor >= obs.ids()[200 * (kill_after_page - 2) - 1 if kill_after_page > 2 else 0]
    if summary is not None:
        assert summary["resumed"] and summary["new"] == N - obs.ids().index(cursor) - 1
