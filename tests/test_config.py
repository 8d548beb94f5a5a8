"""The configuration file is checked when it is read: a bad value stops every command with
one line naming the file, the key with its table, the value and what is expected, and the
database is left untouched. Valid files read back as they were written."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tomllib

import pytest

from biodiv.config import (
    Config, ConfigError, DashboardConfig, InatConfig, TerritoryConfig, load_config,
)
from biodiv.errors import BiodivError
from conftest import REPO
from helpers_analysis import build_fixture
from helpers_areas import run_cli


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("config") / "template.duckdb").path


@pytest.fixture
def db(template_db, tmp_path, monkeypatch):
    """A real database next to the config file (``db_path = "biodiv.duckdb"``)."""
    for var in ("BIODIV_DB", "BIODIV_CONFIG", "BIODIV_INAT_API_URL"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "biodiv.duckdb"
    path.write_bytes(template_db.read_bytes())
    return path


def _snapshot(directory) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


# (TOML body, the phrase the one-line message must hold)
BAD = {
    "per_second_negative": ("[inaturalist]\nper_second = -5\n",
                            "inaturalist.per_second = -5: expected a number > 0"),
    "per_second_text": ('[inaturalist]\nper_second = "fast"\n',
                        'inaturalist.per_second = "fast": expected a number'),
    "public_mode_text": ('[dashboard]\npublic_mode = "yes"\n',
                         'dashboard.public_mode = "yes": expected true or false'),
    "timeout_text": ('[inaturalist]\ntimeout = "x"\n', 'inaturalist.timeout = "x": expected a number'),
    "point_limit_negative": ("[dashboard]\npoint_limit = -1\n",
                             "dashboard.point_limit = -1: expected an integer >= 0 and <= 100000"),
    "refresh_zero": ("[dashboard]\nrefresh_seconds = 0\n",
                     "dashboard.refresh_seconds = 0: expected an integer >= 5 and <= 86400"),
    "db_path_number": ("db_path = 42\n", "db_path = 42: expected a string in quotes"),
    "unknown_in_table": ("[inaturalist]\nper_secnd = 2\n",
                         "unknown key(s) in [inaturalist]: per_secnd (did you mean per_second?)"),
    "unknown_top_level": ("colour = 3\n", "unknown key(s) in the top level (outside any [table]): colour"),
    "table_as_value": ("dashboard = 5\n", "dashboard = 5: expected a table [dashboard]"),
    "sql_timeout_zero": ("[sql]\ntimeout_seconds = 0\n",
                         "sql.timeout_seconds = 0: expected a number > 0 and <= 86400"),
    "sql_memory_words": ('[sql]\nmemory_limit = "lots"\n',
                         'sql.memory_limit = "lots": expected a size such as "512MB" or "2GB"'),
    "basemap_choice": ('[dashboard]\nbasemap = "google"\n',
                       'dashboard.basemap = "google": expected one of "auto", "osm", "ign" or "none"'),
    "insee_code": ('[territory]\ninsee_codes = ["34114", "3411"]\n',
                   'territory.insee_codes[1] = "3411": expected a 5-character INSEE commune code'),
    "integer_as_float": ("[inaturalist]\nper_minute = 60.5\n", "inaturalist.per_minute = 60.5: expected an integer"),
}


@pytest.mark.parametrize("command", [["harvest", "--no-progress"], ["sql", "SELECT 1"], ["status"]])
@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_value_stops_the_command_with_one_line(db, tmp_path, monkeypatch, capsys, case, command):
    body, phrase = BAD[case]
    cfg = tmp_path / "biodiv.toml"
    cfg.write_text('db_path = "biodiv.duckdb"\n' + body if case != "db_path_number" else body, encoding="utf-8")
    if case == "db_path_number":
        monkeypatch.setenv("BIODIV_DB", str(db))
    before = _snapshot(tmp_path)
    code, out, err = run_cli(["--config", str(cfg), *command], monkeypatch, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: config file {cfg}: ")
    assert phrase in lines[0]
    assert "Traceback" not in err and out == ""
    assert _snapshot(tmp_path) == before  # database byte-identical, no working copy nor lock file


def test_negative_rate_no_longer_hangs_a_harvest(db, tmp_path):
    """`per_second = -5` made `biodiv harvest` wait forever: now it stops at once (real process)."""
    cfg = tmp_path / "biodiv.toml"
    cfg.write_text('db_path = "biodiv.duckdb"\n[inaturalist]\nper_second = -5\n', encoding="utf-8")
    before = _snapshot(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIODIV_")}
    proc = subprocess.run([sys.executable, "-m", "biodiv", "--config", str(cfg), "harvest"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"error: config file {cfg}: inaturalist.per_second = -5: expected a number > 0 and <= 1000"
    )
    assert _snapshot(tmp_path) == before


def test_several_bad_keys_of_a_table_are_named_in_one_line(tmp_path):
    cfg = tmp_path / "biodiv.toml"
    cfg.write_text('[dashboard]\npublic_mode = "yes"\npoint_limit = -1\ncolour = "red"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    message = str(info.value)
    assert "\n" not in message
    for phrase in ("unknown key(s) in [dashboard]: colour", 'dashboard.public_mode = "yes"',
                   "dashboard.point_limit = -1"):
        assert phrase in message


def test_not_toml_and_missing_file(tmp_path):
    cfg = tmp_path / "biodiv.toml"
    cfg.write_text("[inaturalist\nper_second = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(cfg)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")


def test_built_from_code_a_bad_value_is_a_config_error_too():
    with pytest.raises(ConfigError, match=r'^territory\.epci_siren = "24340069": expected a 9-digit EPCI SIREN'):
        TerritoryConfig(name="x", epci_siren="24340069", insee_codes=[])
    with pytest.raises(ConfigError, match=r"^inaturalist\.per_day = 0: expected an integer >= 1 and <= 100000000$"):
        InatConfig(per_day=0)


def test_save_refuses_what_would_not_read_back(tmp_path):
    cfg = Config()
    cfg.dashboard.point_limit = -1  # attributes stay assignable; the file is checked on write
    with pytest.raises(ConfigError, match="dashboard.point_limit = -1"):
        cfg.save(tmp_path / "biodiv.toml")
    assert not (tmp_path / "biodiv.toml").exists()



def test_save_on_a_full_disk_keeps_the_previous_file(tmp_path):
    """Config.save replaces the file whole: a full disk leaves the old one, readable."""
    from biodiv.errors import DiskFull
    from helpers_hardening import small_tmpfs

    with small_tmpfs(tmp_path / "disk", 256 * 1024):
        path = Config().save(tmp_path / "disk" / "biodiv.toml")
        before = path.read_bytes()
        fd = os.open(tmp_path / "disk" / "filler", os.O_WRONLY | os.O_CREAT)
        try:   # fill the disk to the last byte
            while os.write(fd, b"x" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        cfg = Config()
        cfg.territory.name = "Nouveau nom " * 400   # a file bigger than the old one
        with pytest.raises(DiskFull) as caught:
            cfg.save(path)
        line = str(caught.value)
        assert "\n" not in line and line.startswith("disk full while writing the configuration (biodiv.toml)")
        assert f"{path} is unchanged" in line
        assert path.read_bytes() == before and load_config(path).to_dict() == Config().to_dict()
        assert sorted(p.name for p in path.parent.iterdir()) == ["biodiv.toml", "filler"]   # no .part left


def test_save_where_a_folder_is_a_file_is_one_line(tmp_path):
    (tmp_path / "notadir").write_text("", encoding="utf-8")
    with pytest.raises(BiodivError, match=r"^cannot write the configuration to .*notadir/biodiv.toml: .*was not created$"):
        Config().save(tmp_path / "notadir" / "biodiv.toml")

# ---------------------------------------------------------------------------
# Valid files
# ---------------------------------------------------------------------------

FULL = '''db_path = "store/biodiv.duckdb"
cache_dir = "store/cache"

[territory]
name = "Territoire de 2 communes"
epci_siren = ""
insee_codes = ["34114", "2A004"]

[inaturalist]
api_url = "http://127.0.0.1:8765/v1"
place_id = 12345
project_id = 67890
per_second = 0.5
per_minute = 30
per_day = 5000
overlap_days = 0
timeout = 10
max_retries = 0

[sources]
geo_api_url = "http://127.0.0.1:8766"
wfs_url = "https://data.geopf.fr/wfs/ows"
wfs_layer_zsc = "PROTECTEDAREAS.SIC:sic"
wfs_layer_zps = "PROTECTEDAREAS.ZPS:zps"
inpn_statuts_url = "https://inpn.mnhn.fr/docs-web/docs/download/401876"
timeout = 120.0

[dashboard]
public_mode = true
refresh_seconds = 5
basemap = "none"
point_limit = 0

[sql]
timeout_seconds = 0.5
max_rows = 1
memory_limit = "512MB"
temp_limit = "1.5GiB"
max_result_size = "64MB"

[exports]
organization = "CC Test"
contact_name = "Service environnement"
contact_email = "env@example.org"
jdd_uuid = "4d331cae-65e4-4948-b0b2-a11bc5bb46c2"
jdd_nom = "Jeu test"
ca_uuid = "57b7d0f2-4183-4b7b-8f08-6e105d476dc5"
ca_nom = "Cadre test"
'''


def test_a_valid_file_reads_and_round_trips(tmp_path):
    path = tmp_path / "biodiv.toml"
    path.write_text(FULL, encoding="utf-8")
    cfg = load_config(path)
    assert cfg.source_file == path.resolve()
    assert cfg.db == tmp_path / "store" / "biodiv.duckdb"
    assert cfg.territory.insee_codes == ["34114", "2A004"] and cfg.territory.epci_siren == ""
    assert cfg.inaturalist.per_second == 0.5 and cfg.inaturalist.timeout == 10.0
    assert isinstance(cfg.inaturalist.timeout, float)  # a TOML integer is a fine number
    assert cfg.dashboard.public_mode is True and cfg.dashboard.point_limit == 0
    assert cfg.sql.timeout_seconds == 0.5 and cfg.sql.memory_limit == "512MB"
    again = tmp_path / "again.toml"
    cfg.save(again)
    assert tomllib.loads(again.read_text(encoding="utf-8")) == tomllib.loads(FULL) | {
        "inaturalist": tomllib.loads(FULL)["inaturalist"] | {"overlap_days": 0.0, "timeout": 10.0},
    }
    reread = load_config(again)
    assert reread.to_dict() == cfg.to_dict()
    reread.save(tmp_path / "third.toml")
    assert (tmp_path / "third.toml").read_text(encoding="utf-8") == again.read_text(encoding="utf-8")


def test_defaults_round_trip_and_a_partial_file_keeps_the_other_defaults(tmp_path):
    path = Config().save(tmp_path / "defaults.toml")
    assert load_config(path).to_dict() == Config().to_dict()
    partial = tmp_path / "partial.toml"
    partial.write_text("[dashboard]\npublic_mode = true\n", encoding="utf-8")
    cfg = load_config(partial)
    assert cfg.dashboard.public_mode is True
    assert cfg.dashboard.point_limit == DashboardConfig().point_limit == 3000
    assert cfg.sql.max_rows == 10_000 and cfg.inaturalist.per_second == 1.0
    assert cfg.territory.epci_siren == "243400694"  # CCVH by default


def test_no_file_gives_the_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg.source_file is None and cfg.to_dict() == Config().to_dict()


def test_init_still_writes_a_file_that_reads_back(tmp_path, monkeypatch, capsys):
    for var in ("BIODIV_DB", "BIODIV_CONFIG", "BIODIV_INAT_API_URL"):
        monkeypatch.delenv(var, raising=False)
    cfg_file = tmp_path / "biodiv.toml"
    cfg_file.write_text('db_path = "biodiv.duckdb"\n[dashboard]\npublic_mode = true\n', encoding="utf-8")
    code, out, err = run_cli(["-c", str(cfg_file), "init", "--communes", "34114,34999", "--name", "Essai"],
                             monkeypatch, capsys)
    assert code == 0, err
    cfg = load_config(cfg_file)
    assert cfg.territory.insee_codes == ["34114", "34999"] and cfg.territory.name == "Essai"
    assert cfg.dashboard.public_mode is True  # the rest of the file is kept


def test_every_key_is_documented():
    """docs/configuration.md lists every key with its type, range and default."""
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([a-z_.]+)` \|", doc, flags=re.MULTILINE))
    keys = set()
    for name, field in Config.model_fields.items():
        name = field.alias or name   # [store] is the field store_ (Config.store() opens it)
        sub = getattr(field.annotation, "model_fields", None)
        keys |= {f"{name}.{k}" for k in sub} if sub else {name}
    assert keys - rows == set(), f"undocumented keys: {sorted(keys - rows)}"
    assert rows - keys == set(), f"documented keys that do not exist: {sorted(rows - keys)}"
