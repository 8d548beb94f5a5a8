"""biodiv.attach.links on a real DuckDB file with the spatial extension."""

import pytest

from biodiv.attach import links as links_module
from biodiv.attach.links import attach

# Two member communes side by side, a neighbour outside the territory, and a large
# "Natura 2000" site overlapping both members (lon/lat degrees).
AREAS = [
    (1, "commune", "99001", "Alpha", "POLYGON((3.0 43.0, 3.1 43.0, 3.1 43.1, 3.0 43.1, 3.0 43.0))", True),
    (2, "commune", "99002", "Beta", "POLYGON((3.1 43.0, 3.2 43.0, 3.2 43.1, 3.1 43.1, 3.1 43.0))", True),
    (3, "commune", "99003", "Gamma", "POLYGON((3.2 43.0, 3.3 43.0, 3.3 43.1, 3.2 43.1, 3.2 43.0))", False),
    (4, "n2000_zsc", "FR0000001", "Site", "POLYGON((2.9 42.9, 3.5 42.9, 3.5 43.5, 2.9 43.5, 2.9 42.9))", None),
]

# id, lon, lat, accuracy (m), obscured
OBS = [
    (10, 3.05, 43.05, 10, False),     # inside Alpha, certain; certain in the site
    (11, 3.1, 43.05, 10, False),      # on the Alpha/Beta border (to float precision): edge
    (12, 3.15, 43.05, None, False),   # Beta, accuracy unknown: edge
    (13, 3.25, 43.05, 10, False),     # Gamma: outside the territory, kept and flagged
    (14, 4.00, 44.00, 10, False),     # outside every area
    (15, 3.05, 43.05, 5000, False),   # disk crosses Alpha's border (Alpha is ~8 km wide)
    (16, 3.05, 43.05, 10, True),      # obscured: cell 3.0–3.2 × 43.0–43.2 only inside the site
    (17, None, None, None, False),    # private: no coordinates
]


@pytest.fixture(params=[None, 3], ids=["one-pass", "passes-of-3"])
def passes(request, monkeypatch):
    """The attach in one pass, and in passes of 3 observations (8 here: 3 passes), which
    must give the same links, flags and counts."""
    if request.param:
        monkeypatch.setattr(links_module, "CHUNK", request.param)
    return request.param


def _fill(con):
    for a in AREAS:
        con.execute(
            "INSERT INTO areas (id, type, code, name, geom, in_territory) VALUES (?, ?, ?, ?, ST_GeomFromText(?), ?)",
            list(a),
        )
    for oid, lon, lat, acc, obscured in OBS:
        con.execute(
            """INSERT INTO observations (id, lon, lat, geom, positional_accuracy, obscured)
               VALUES (?, ?, ?, CASE WHEN ? IS NULL THEN NULL ELSE ST_Point(?, ?) END, ?, ?)""",
            [oid, lon, lat, lon, lon, lat, acc, obscured],
        )


def _links(con):
    return sorted(con.execute("SELECT observation_id, area_id, relation FROM observation_areas").fetchall())


def test_attach_links_with_certainty_and_flags(store, passes):
    with store.write() as con:
        _fill(con)
        stats = attach(con)
    with store.read() as con:
        links = _links(con)
        flags = dict(con.execute("SELECT id, in_territory FROM observations").fetchall())
        pending = con.execute("SELECT count(*) FROM observations WHERE needs_attach").fetchone()[0]
        run = con.execute("SELECT kind, status FROM runs").fetchall()
    # on a shared border, float rounding after projection puts the point in one commune
    # or both; it is never lost and never certain there
    border = [link for link in links if link[0] == 11 and link[1] != 4]
    assert border and {a for _, a, _ in border} <= {1, 2} and {r for *_, r in border} == {"edge"}
    assert [link for link in links if link[0] != 11 or link[1] == 4] == [
        (10, 1, "certain"), (10, 4, "certain"),
        (11, 4, "certain"),
        (12, 2, "edge"), (12, 4, "edge"),
        (13, 3, "certain"), (13, 4, "certain"),
        (15, 1, "edge"), (15, 4, "certain"),
        (16, 4, "certain"),
    ]
    assert flags == {10: True, 11: True, 12: True, 13: False, 14: False, 15: True, 16: True, 17: None}
    assert stats["observations"] == 8 and stats["outside"] == 2 and stats["no_coordinates"] == 1
    assert stats["obscured"] == 1 and stats["links"] == len(links)
    assert pending == 0
    assert run == [("attach", "ok")]


def test_attach_is_incremental_and_recomputes_on_demand(store, passes):
    with store.write() as con:
        _fill(con)
        attach(con)
        first = _links(con)
        # nothing pending: nothing examined, links kept
        assert attach(con)["observations"] == 0
        assert _links(con) == first
        # one observation moves into Beta
        con.execute("UPDATE observations SET lon = 3.15, geom = ST_Point(3.15, 43.05), needs_attach = true WHERE id = 10")
        stats = attach(con)
        assert stats["observations"] == 1
        assert [link for link in _links(con) if link[0] == 10] == [(10, 2, "certain"), (10, 4, "certain")]


def test_reimported_layer_drops_stale_links(store, passes):
    with store.write() as con:
        _fill(con)
        attach(con)
        # the site layer is replaced by a smaller site that only covers Alpha
        con.execute("DELETE FROM areas WHERE id = 4")
        con.execute(
            """INSERT INTO areas (id, type, code, name, geom) VALUES
               (5, 'n2000_zsc', 'FR0000002', 'Petit site', ST_GeomFromText('POLYGON((3.0 43.0, 3.1 43.0, 3.1 43.1, 3.0 43.1, 3.0 43.0))'))"""
        )
        attach(con, all_observations=True, area_types=["n2000_zsc"])
        links = _links(con)
    assert not [link for link in links if link[1] == 4]
    assert [link for link in links if link[1] == 5 and link[0] != 11] == [(10, 5, "certain"), (15, 5, "edge")]
    # commune links untouched
    assert (13, 3, "certain") in links


def test_area_indexes_are_built_once_and_rebuilt_when_a_shape_changes(store):
    with store.write() as con:
        _fill(con)
        first = attach(con)
        links = _links(con)
        cached = con.execute("SELECT area_id, fingerprint FROM area_index ORDER BY 1").fetchall()
        again = attach(con, all_observations=True)
        assert _links(con) == links
        # Alpha keeps its id but shrinks to its western half: its index must not be reused
        con.execute("""UPDATE areas SET geom = ST_GeomFromText(
                       'POLYGON((3.0 43.0, 3.04 43.0, 3.04 43.1, 3.0 43.1, 3.0 43.0))') WHERE id = 1""")
        con.execute("DELETE FROM areas WHERE id = 3")
        changed = attach(con, all_observations=True)
        after = dict(con.execute("SELECT area_id, fingerprint FROM area_index").fetchall())
        moved = _links(con)
    assert first["areas_indexed"] == 4 and [a for a, _ in cached] == [1, 2, 3, 4]
    assert again["areas_indexed"] == 0
    assert changed["areas_indexed"] == 1
    assert sorted(after) == [1, 2, 4] and after[1] != dict(cached)[1] and after[2] == dict(cached)[2]
    # observation 10 (lon 3.05) is no longer in Alpha; 13 lost Gamma
    assert not [link for link in moved if link[0] == 10 and link[1] == 1]
    assert not [link for link in moved if link[1] == 3]


def test_a_cached_index_with_a_wrong_fingerprint_is_ignored(store):
    with store.write() as con:
        _fill(con)
        attach(con)
        links = _links(con)
        # a cache row that does not belong to the current shape (e.g. written by an older
        # index format) must never be used: Alpha's cells and cores are emptied here
        con.execute("""UPDATE area_index SET fingerprint = 'stale', cells = ''::BLOB, depth = ''::BLOB
                       WHERE area_id = 1""")
        stats = attach(con, all_observations=True)
        assert stats["areas_indexed"] == 1
        assert _links(con) == links


def test_attach_without_areas_marks_nothing_outside(store):
    with store.write() as con:
        con.execute("INSERT INTO observations (id, lon, lat, geom) VALUES (1, 3.0, 43.0, ST_Point(3.0, 43.0))")
        stats = attach(con)
        assert stats["links"] == 0
        assert con.execute("SELECT in_territory, needs_attach FROM observations").fetchone() == (None, False)


def test_failed_attach_leaves_the_published_store_unchanged(store):
    with store.write() as con:
        _fill(con)
    before = store.path.read_bytes()
    with pytest.raises(RuntimeError):
        with store.write() as con:
            attach(con)
            raise RuntimeError("killed after attach, before publishing")
    assert store.path.read_bytes() == before
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM observation_areas").fetchone()[0] == 0


def test_a_stale_leftover_never_overrides_a_newer_published_file(store):
    with store.write() as con:
        con.execute("INSERT INTO meta VALUES ('k', 'published')")
    # a leftover working copy from an older, failed run...
    with pytest.raises(RuntimeError):
        with store.write() as con:
            con.execute("UPDATE meta SET value = 'leftover' WHERE key = 'k'")
            raise RuntimeError("failed run")
    assert store.wip_path.exists()
    # ...then the published file is replaced by a newer one (e.g. a restored backup)
    import os
    import time
    later = time.time() + 5
    os.utime(store.path, (later, later))
    with store.write() as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "published"


def test_a_killed_run_is_resumed_from_its_leftover(store):
    with pytest.raises(RuntimeError):
        with store.write() as con:
            con.execute("INSERT INTO meta VALUES ('page', '7')")
            raise RuntimeError("killed")
    with store.read() as con:   # readers still see the last published state
        assert con.execute("SELECT count(*) FROM meta WHERE key = 'page'").fetchone()[0] == 0
    with store.write() as con:  # the next writer resumes the committed work
        assert con.execute("SELECT value FROM meta WHERE key = 'page'").fetchone()[0] == "7"
    assert not store.wip_path.exists()


def test_attach_keeps_pandas_out_of_the_process(store):
    """`biodiv attach` runs as its own command: DuckDB's client would import pandas (~0.4 s)
    on the first bound parameter; the attach never needs it."""
    import subprocess
    import sys

    with store.write() as con:
        _fill(con)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from biodiv.attach.links import attach\n"
        "from biodiv.store import Store\n"
        f"with Store(Path({str(store.path)!r})).write() as con:\n"
        "    stats = attach(con)\n"
        "print(stats['links'] > 0, 'pandas' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # the last line: under load DuckDB may print its progress bar on stdout first
    assert proc.stdout.splitlines()[-1].split() == ["True", "False"]
