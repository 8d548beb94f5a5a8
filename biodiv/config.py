"""Configuration: the territory and every tunable, from a TOML file, never from code.

Lookup order for the file: ``--config`` option, ``$BIODIV_CONFIG``, ``./biodiv.toml``.
Without a file the defaults describe the Communauté de communes Vallée de l'Hérault
(EPCI SIREN 243400694); its member communes are resolved by ``biodiv init``.
``$BIODIV_DB`` overrides the database path and ``$BIODIV_INAT_API_URL`` the
iNaturalist API base URL (mirrors, stand-in servers).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from biodiv.errors import BiodivError

DEFAULT_EPCI_SIREN = "243400694"
DEFAULT_CONFIG_FILE = "biodiv.toml"


class ConfigError(BiodivError):
    pass


@dataclass
class TerritoryConfig:
    name: str = ""
    epci_siren: str | None = DEFAULT_EPCI_SIREN
    insee_codes: list[str] = field(default_factory=list)


@dataclass
class InatConfig:
    api_url: str = "https://api.inaturalist.org/v1"
    place_id: int | None = None
    project_id: int | None = None
    per_second: float = 1.0
    per_minute: int = 60
    per_day: int = 10_000
    overlap_days: float = 1.0
    timeout: float = 30.0
    max_retries: int = 5


@dataclass
class SourcesConfig:
    """Public services for reference areas (documented endpoints)."""

    geo_api_url: str = "https://geo.api.gouv.fr"
    wfs_url: str = "https://data.geopf.fr/wfs/ows"
    wfs_layer_zsc: str = "PROTECTEDAREAS.SIC:sic"
    wfs_layer_zps: str = "PROTECTEDAREAS.ZPS:zps"
    inpn_statuts_url: str | None = None   # INPN "BDC statuts" zip (biodiv refs fetch)
    timeout: float = 60.0


@dataclass
class DashboardConfig:
    public_mode: bool = False          # hide observer logins
    refresh_seconds: int = 60          # workshop mode auto-refresh
    basemap: str = "auto"              # auto, osm, ign, none
    point_limit: int = 3000            # above this, aggregate instead of drawing points


@dataclass
class SqlConfig:
    """Limits of `biodiv sql` and `biodiv query run` (biodiv/analysis/readonly.py)."""

    timeout_seconds: float = 60.0      # a query running longer is interrupted
    max_rows: int = 10_000             # rows printed at most (biodiv export for whole tables)
    memory_limit: str = "1GB"          # DuckDB buffer memory of a read
    temp_limit: str = "2GB"            # DuckDB temp files of a read (private temp directory)


@dataclass
class Config:
    db_path: str = "data/biodiv.duckdb"
    cache_dir: str = "data/cache"
    territory: TerritoryConfig = field(default_factory=TerritoryConfig)
    inaturalist: InatConfig = field(default_factory=InatConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    sql: SqlConfig = field(default_factory=SqlConfig)
    source_file: Path | None = None

    # -- derived --------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        return self.source_file.parent if self.source_file else Path.cwd()

    def resolve(self, p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    @property
    def db(self) -> Path:
        env = os.environ.get("BIODIV_DB")
        return Path(env) if env else self.resolve(self.db_path)

    @property
    def cache(self) -> Path:
        return self.resolve(self.cache_dir)

    @property
    def inat_api_url(self) -> str:
        return os.environ.get("BIODIV_INAT_API_URL") or self.inaturalist.api_url

    def store(self):
        from biodiv.store.database import Store

        return Store(self.db)

    # -- serialisation ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("source_file")
        return _drop_none(data)

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "# biodiv configuration: the territory and tunables (see docs/configuration.md).\n"
            + tomli_w.dumps(self.to_dict()),
            encoding="utf-8",
        )
        self.source_file = path.resolve()
        return path


def _drop_none(d: dict) -> dict:
    return {k: (_drop_none(v) if isinstance(v, dict) else v) for k, v in d.items() if v is not None}


def _build(cls, data: dict[str, Any], section: str):
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{section}]: {', '.join(sorted(unknown))}")
    return cls(**data)


def config_path(explicit: Path | str | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("BIODIV_CONFIG")
    return Path(env) if env else Path.cwd() / DEFAULT_CONFIG_FILE


def load_config(explicit: Path | str | None = None) -> Config:
    """Read the config file, or return the defaults (CCVH) when there is none."""
    path = config_path(explicit)
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} does not exist")
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    sections = {
        "territory": TerritoryConfig,
        "inaturalist": InatConfig,
        "sources": SourcesConfig,
        "dashboard": DashboardConfig,
        "sql": SqlConfig,
    }
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in sections:
            if not isinstance(value, dict):
                raise ConfigError(f"[{key}] must be a table in {path}")
            kwargs[key] = _build(sections[key], value, key)
        elif key in ("db_path", "cache_dir"):
            kwargs[key] = str(value)
        else:
            raise ConfigError(f"unknown key {key!r} in {path}")
    cfg = Config(**kwargs)
    cfg.source_file = path.resolve()
    return cfg
