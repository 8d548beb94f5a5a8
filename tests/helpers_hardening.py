"""Test helpers of the hardening tests: a harvested CCVH store built through the real CLI
(offline ``init --epci-file``, the real Hérault commune boundaries, a harvest from the
iNaturalist stand-in), a small tmpfs for disk-full runs, and file hashes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from biodiv.config import Config
from helpers_areas import run_cli
from helpers_harvest import ObservationSet, StandInInat, Taxonomy

EPCI_FILE = "admin/epci-34-herault_decoupage-administratif-6.0.0.json"
COMMUNES_GEOJSON = "admin/communes-34-herault.geojson"
COMMUNES_JSON = "admin/communes-34-herault_decoupage-administratif-6.0.0.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_config(directory: Path, db: Path | None = None, **sources) -> Path:
    """A config file in ``directory`` (database beside it unless ``db``), fast iNaturalist rates."""
    cfg = Config(db_path=str(db or directory / "biodiv.duckdb"), cache_dir=str(directory / "cache"))
    cfg.inaturalist.per_second, cfg.inaturalist.per_minute, cfg.inaturalist.per_day = 200, 100_000, 1_000_000
    cfg.inaturalist.timeout, cfg.inaturalist.max_retries = 5, 1
    cfg.sources.timeout = 2
    for key, value in sources.items():
        setattr(cfg.sources, key, value)
    return cfg.save(directory / "biodiv.toml")


def cli(args: list[str], cfg_file: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    return run_cli(["-c", str(cfg_file), *args], monkeypatch, capsys)


def run_quiet(args: list[str]) -> int:
    """``biodiv ARGS`` in-process for fixtures (no capsys there): the exit code only."""
    import sys

    from biodiv.cli import root

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["biodiv", *args])
        try:
            root.main()
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
    return 0


def build_harvested(directory: Path, shared: Path, n_observations: int = 300) -> Path:
    """CCVH territory, the 343 Hérault communes and ``n_observations`` harvested, through the
    CLI; returns the database path (beside ``directory/biodiv.toml``)."""
    cfg_file = write_config(directory)
    steps = (["init", "--epci-file", str(shared / EPCI_FILE)],
             ["areas", "import", str(shared / COMMUNES_GEOJSON), "--type", "commune"],
             ["harvest", "--no-progress"])
    tax = Taxonomy(30)
    with StandInInat(ObservationSet(n_observations, tax), tax) as api, pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIODIV_INAT_API_URL", api.url)
        for args in steps:
            assert run_quiet(["-c", str(cfg_file), *args]) == 0, args
    return directory / "biodiv.duckdb"


@contextmanager
def small_tmpfs(directory: Path, size_bytes: int):
    """A tmpfs of ``size_bytes`` mounted on ``directory`` (root only; skips otherwise)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small tmpfs needs root (mount -t tmpfs)")
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(directory)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)
