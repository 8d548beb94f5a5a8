"""The use cases, as a library: define the territory, harvest, update.

Why here and not in the command line: ``biodiv init``, ``biodiv harvest`` and ``biodiv update``
are what a scheduled job, a test, ``dashboard --live`` or another program needs to run too.
Like sqlite-utils and datasette, biodiv keeps every operation in the library and makes the
CLI a thin mirror: :mod:`biodiv.cli` parses options, calls a function of this module and
prints what it returns. Nothing here prints or reads the environment; the database and the
configuration file are passed in (a :class:`~biodiv.config.Config`, whose database may have
been chosen by the caller with :meth:`~biodiv.config.Config.use_db`).

Layers: this module sits above the steps (:mod:`biodiv.areas`, :mod:`biodiv.inat`,
:mod:`biodiv.attach`, :mod:`biodiv.analysis`) and below the interfaces (:mod:`biodiv.cli`,
:mod:`biodiv.dashboard`); ``tests/test_layers.py`` checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from biodiv.areas.reference import fetch_missing_areas, missing_types, reattach, record_run
from biodiv.areas.territory import (
    COMMUNES_FILE_HINT, TerritoryError, check_codes_in_list, check_departments, epci_from_file,
    parse_insee_codes, read_communes_file, resolve_epci, save_territory, switch_notice,
)
from biodiv.attach.crs import territory_crs
from biodiv.config import DEFAULT_EPCI_SIREN, Config, TerritoryConfig, config_path
from biodiv.errors import BiodivError
from biodiv.inat import photos
from biodiv.inat.db import TerritoryMissing
from biodiv.inat.harvest import harvest as harvest_observations
from biodiv.inat.harvest import written_bytes
from biodiv.inat.probe import probe
from biodiv.sensitivity.levels import refresh as refresh_sensitivity
from biodiv.store.database import transaction

Note = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class InitResult:
    """What :func:`init_territory` did: the territory, and what is still missing."""

    name: str
    siren: str | None
    codes: list[str]
    config_file: Path
    db: Path
    notes: list[str] = field(default_factory=list)          # warnings about the codes
    missing_codes: list[str] = field(default_factory=list)  # member communes with no boundary yet
    missing_types: list[str] = field(default_factory=list)  # reference layers not loaded yet


def init_territory(
    cfg: Config,
    config_file: Path,
    *,
    epci: str | None = None,
    communes: str | None = None,
    name: str | None = None,
    epci_file: Path | None = None,
    communes_file: Path | None = None,
) -> InitResult:
    """Choose the territory (an EPCI SIREN, or INSEE codes), create the store and write the
    configuration file ``config_file``. Every refusal comes before anything is written."""
    started = datetime.now(timezone.utc)
    if communes and (epci or epci_file):
        raise TerritoryError("give either --communes or --epci/--epci-file, not both")
    if communes_file and not communes:
        raise TerritoryError("--communes-file checks the codes of --communes: give both")
    notes: list[str] = []
    if communes:
        codes = parse_insee_codes(communes)
        check_departments(codes)
        if communes_file:
            notes = check_codes_in_list(codes, read_communes_file(communes_file), str(communes_file))
        else:
            notes = [f"the codes were not checked against the official commune list: {COMMUNES_FILE_HINT}"]
        siren = None
        terr_name = name or f"Territoire de {len(codes)} commune{'s' if len(codes) > 1 else ''}"
    else:
        siren = (epci or cfg.territory.epci_siren or DEFAULT_EPCI_SIREN).strip()
        if epci_file:
            terr_name, codes = epci_from_file(epci_file, siren)
        else:
            terr_name, codes = resolve_epci(cfg, siren)
        terr_name = name or terr_name

    # "" (not None) when there is no EPCI: None is dropped from the TOML and would read back
    # as the default SIREN
    cfg.territory = TerritoryConfig(name=terr_name, epci_siren=siren or "", insee_codes=codes)
    cfg.source_file = config_file.resolve()  # the database path is relative to the config file
    store = cfg.store()
    with store.write(create=True) as con:
        switching = switch_notice(con, terr_name, codes)
        if switching:
            notes.append(switching)
        metric_before = territory_crs(con)
        with transaction(con):   # the territory, its flags and the observations' flags at once
            terr = save_territory(con, terr_name, siren, codes)
            record_run(con, "init", started, {"name": terr_name, "siren": siren, "insee_codes": codes}, terr)
        if territory_crs(con) != metric_before and con.execute("SELECT count(*) FROM areas").fetchone()[0]:
            reattach(con, None)   # links were computed in another metric projection (overseas)
        missing = missing_types(con)
    cfg.save(config_file)
    return InitResult(terr_name, siren, codes, config_file, store.path, notes,
                      list(terr.get("missing_codes", [])), list(missing))


@dataclass
class UpdateResult:
    """What :func:`update` did: the harvest's summary, the reference layers that could not be
    fetched (the update is then partial), the photos cached, and the territory defined first
    on a fresh machine."""

    summary: dict
    areas_not_fetched: list[str] = field(default_factory=list)
    photos: dict | None = None
    initialised: InitResult | None = None

    @property
    def partial(self) -> bool:
        """Something expected failed: a layer loaded before, or records kept aside by the harvest
        (a layer never loaded that cannot be fetched offline is only a warning)."""
        return (any(getattr(f, "expected", True) for f in self.areas_not_fetched)
                or self.summary.get("status") == "partial")


def harvest(cfg: Config, *, full: bool = False, reconcile: bool = False, progress: bool = False) -> dict:
    """Harvest the territory's observations (first run: all; later: what changed) and attach
    them. Returns the run's summary (see :func:`biodiv.inat.harvest.harvest`)."""
    return _harvest(cfg, full=full, reconcile=reconcile, progress=progress, fetch_areas=False, note=_quiet)[0]


def update(
    cfg: Config,
    config_file: Path | None = None,
    *,
    full: bool = False,
    reconcile: bool = False,
    progress: bool = False,
    cache_photos: bool = True,
    note: Note = _quiet,
) -> UpdateResult:
    """The everyday use case: define the territory on a fresh machine (with the configured
    EPCI, written to ``config_file``), fetch the reference layers still missing, harvest,
    attach, then cache the latest photos' thumbnails for the workshop screen.

    ``note`` receives one-line progress messages and warnings (the CLI prints them).
    Raises :class:`~biodiv.errors.BiodivError` with one line when nothing could be done."""
    initialised = None
    store = cfg.store()
    if not store.exists() and not store.wip_path.exists():
        note("no database yet: defining the territory first (biodiv init)")
        try:
            initialised = init_territory(cfg, config_file or cfg.source_file or config_path())
        except BiodivError as exc:
            raise BiodivError(
                f"{exc}. Without network, explore biodiv with fictional demonstration data: "
                "`biodiv demo` then `biodiv dashboard --demo`"
            ) from None
    summary, failures = _harvest(cfg, full=full, reconcile=reconcile, progress=progress, fetch_areas=True,
                                 note=note)
    if failures:
        summary["areas_not_fetched"] = failures
    got = photos.cache_latest(cfg.store()) if cache_photos else None
    return UpdateResult(summary, failures, got, initialised)


def _harvest(cfg: Config, *, full: bool, reconcile: bool, progress: bool, fetch_areas: bool,
             note: Note) -> tuple[dict, list[str]]:
    store = cfg.store()
    failures: list[str] = []
    baseline = written_bytes()
    first = None
    if not full and not reconcile:
        # an update that finds nothing opens no writer (no copy of the store): see biodiv.inat.probe
        first = probe(cfg, store, needs_writer=_missing_areas if fetch_areas else None)
        if isinstance(first, dict):
            return first, failures
    with store.write() as con:
        if fetch_areas:
            if con.execute("SELECT count(*) FROM territory").fetchone()[0] == 0:
                raise TerritoryMissing("no territory is defined yet: run `biodiv init` first")
            missing = missing_types(con)
            if missing:
                note(f"fetching missing reference areas: {', '.join(missing)}")
                failures = fetch_missing_areas(cfg, con, missing)   # Natura 2000 down: warned, harvest goes on
                for failure in failures:
                    note(f"warning: {failure}")
        summary = harvest_observations(cfg, con, full=full, reconcile=reconcile, progress=progress, probe=first,
                                       written_baseline=baseline)
        refresh_sensitivity(con)   # new taxa, dates, communes: levels again
    return summary, failures


def attach(cfg: Config, *, all_observations: bool = False) -> dict:
    """Link observations to their areas (``biodiv attach``), then recompute the sensitivity
    levels that depend on their communes (:mod:`biodiv.sensitivity.levels`)."""
    from biodiv.attach.links import attach as attach_observations

    with cfg.store().write() as con:
        stats = attach_observations(con, all_observations=all_observations)
        refresh_sensitivity(con)
    return stats


def _missing_areas(con) -> bool:
    return con.execute("SELECT count(*) FROM territory").fetchone()[0] == 0 or bool(missing_types(con))
