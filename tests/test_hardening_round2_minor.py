"""Minor items of issue 22: a ``--param`` given twice is refused instead of the last one
winning silently."""

from __future__ import annotations

from helpers_analysis import build_fixture
from helpers_hardening import cli, write_config


def test_a_duplicate_param_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    store = build_fixture(tmp_path / "biodiv.duckdb")
    cfg_file = write_config(tmp_path, db=store.path)
    code, out, err = cli(["query", "run", "species_by_area", "--param", "area=34001", "--param", "area=34002",
                          "--format", "csv"], cfg_file, monkeypatch, capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "given twice" in lines[0] and "34001" in lines[0], err
    assert out == ""
    code, out, err = cli(["query", "run", "species_by_area", "--param", "area=34002", "--format", "csv"],
                         cfg_file, monkeypatch, capsys)
    assert code == 0 and len(out.splitlines()) > 1, err


def test_unreadable_dates_and_accuracies_are_said_in_the_run_log(tmp_path, shared_data, monkeypatch):
    """A harvest from the stand-in where two records hold an impossible date and an accuracy
    "huge": stored empty, and the run log says so (field, value, observation)."""
    import json

    import duckdb

    from helpers_hardening import COMMUNES_GEOJSON, EPCI_FILE, run_quiet
    from helpers_harvest import ObservationSet, StandInInat, Taxonomy

    cfg_file = write_config(tmp_path)
    for args in (["init", "--epci-file", str(shared_data / EPCI_FILE)],
                 ["areas", "import", str(shared_data / COMMUNES_GEOJSON), "--type", "commune"]):
        assert run_quiet(["-c", str(cfg_file), *args]) == 0, args
    tax = Taxonomy(10)
    obs = ObservationSet(40, tax)
    first, second = obs.ids()[3], obs.ids()[7]
    obs.overrides[first] = dict(obs.base_record(first), observed_on="2024-13-45")
    obs.overrides[second] = dict(obs.base_record(second), positional_accuracy="huge",
                                 public_positional_accuracy="huge")
    with StandInInat(obs, tax) as api:
        monkeypatch.setenv("BIODIV_INAT_API_URL", api.url)
        assert run_quiet(["-c", str(cfg_file), "harvest", "--no-progress"]) == 0
    con = duckdb.connect(str(tmp_path / "biodiv.duckdb"), read_only=True)
    try:
        stats = json.loads(con.execute("SELECT stats FROM runs WHERE kind = 'harvest' ORDER BY id DESC LIMIT 1")
                           .fetchone()[0])
        stored = dict(con.execute("SELECT id, observed_on FROM observations WHERE id IN (?, ?)",
                                  [first, second]).fetchall())
    finally:
        con.close()
    log = "\n".join(stats.get("log", []))
    assert f"observation {first}: observed_on '2024-13-45'" in log, log
    assert f"observation {second}: " in log and "'huge'" in log, log
    assert stored[first] is None and stored[second] is not None
    assert stats["unreadable"]["observed_on"] == 1
