"""Configuration: the territory and every tunable, from a TOML file, never from code.

Lookup order for the file: ``--config`` option, ``$BIODIV_CONFIG``, ``./biodiv.toml``.
Without a file the defaults describe the Communauté de communes Vallée de l'Hérault
(EPCI SIREN 243400694); its member communes are resolved by ``biodiv init``.
``$BIODIV_DB`` overrides the database path (read once, by :func:`load_config`: the
configuration then carries the path, :meth:`Config.use_db`) and ``$BIODIV_INAT_API_URL`` the
iNaturalist API base URL (mirrors, stand-in servers).

Why a validation library: every key has a type and a range, checked when the file is
read, so that ``per_second = -5`` (a harvest that waited forever), ``public_mode = "yes"``
or ``point_limit = -1`` stop at once with one line naming the file, the key with its
table, the value and what is expected (:class:`ConfigError`). pydantic does the checking
(strict: TOML has types, so ``"5"`` is not a number and ``"yes"`` is not a boolean).

Adding a key is one line in its table's model below, with its type, default and range::

    class DashboardConfig(Table):
        live_seconds: int = Field(30, ge=5, le=3600)     # seconds between live refreshes

and one line in docs/configuration.md (tests/test_config.py checks every key is there).
A new table is a ``Table`` subclass plus one field on :class:`Config`. Constraints:
``Field(ge=, gt=, le=, lt=)`` for numbers, ``Literal["a", "b"]`` for choices, the
``Url``/``Size``/``NonEmpty`` types below for strings; ``X | None = None`` for optional keys.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, ValidationError

from biodiv.errors import BiodivError
from biodiv.files import write_atomic

DEFAULT_EPCI_SIREN = "243400694"
DEFAULT_CONFIG_FILE = "biodiv.toml"
MAX_CONFIG_BYTES = 1_000_000   # a configuration is a few hundred bytes; a huge file is a mistake


class ConfigError(BiodivError):
    pass


class Expect(str):
    """What a constrained string must look like, in words (used in error messages)."""


NonEmpty = Annotated[str, StringConstraints(min_length=1), Expect("a non-empty string")]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+\S*$"), Expect('an http(s) URL, e.g. "https://example.org/api"')]
Size = Annotated[str, StringConstraints(pattern=r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$"),
                 Expect('a size such as "512MB" or "2GB"')]

_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B)\s*$", re.IGNORECASE)


def size_bytes(text: str) -> int:
    """``"512MB"`` as bytes (decimal units as DuckDB reads them; KiB, MiB... binary)."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"not a size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def _size_between(low: str, high: str):
    """A ``Size`` bounded on both sides (``memory_limit = "100TB"`` is a mistake, not a wish)."""
    def check(value: str) -> str:
        if not size_bytes(low) <= size_bytes(value) <= size_bytes(high):
            raise ValueError(f"a size between {low} and {high}")
        return value
    return AfterValidator(check)
Siren = Annotated[str, StringConstraints(pattern=r"^(\d{9})?$"), Expect('a 9-digit EPCI SIREN, or "" for a list of communes')]
Contact = Annotated[str, StringConstraints(pattern=r"^(https?://[^\s/]+\S*|[^\s@()]+@[^\s@()]+\.[^\s@()]+)$"),
                   Expect('an email address or an http(s) URL, e.g. "mairie@example.fr"')]
Insee = Annotated[str, StringConstraints(pattern=r"^(\d{5}|2[AB]\d{3})$"), Expect('a 5-character INSEE commune code, e.g. "34114"')]


class Table(BaseModel):
    """One ``[table]`` of the file: unknown keys refused, types strict.

    Built from code (``TerritoryConfig(...)`` in ``biodiv init``), a bad value is a
    :class:`ConfigError` too, naming the key with its table.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError("; ".join(_problems(exc, _table_of(type(self))))) from None


class TerritoryConfig(Table):
    name: str = ""
    epci_siren: Siren | None = DEFAULT_EPCI_SIREN
    insee_codes: list[Insee] = Field(default_factory=list)


class InatConfig(Table):
    api_url: Url = "https://api.inaturalist.org/v1"
    place_id: int | None = Field(None, ge=1, le=2**31 - 1)
    project_id: int | None = Field(None, ge=1, le=2**31 - 1)
    # iNaturalist asks ≤ 1/s, 60/min, 10,000/day; the upper bounds leave room for a mirror
    # or a stand-in server, and stop inf/1e308 before the rate limiter overflows
    per_second: float = Field(1.0, gt=0, le=1000)
    per_minute: int = Field(60, ge=1, le=1_000_000)
    per_day: int = Field(10_000, ge=1, le=100_000_000)
    overlap_days: float = Field(1.0, ge=0, le=365)
    timeout: float = Field(30.0, gt=0, le=3600)
    max_retries: int = Field(5, ge=0, le=100)
    contact: Contact | None = None                 # email or URL sent in the User-Agent (iNaturalist asks for it)


class SourcesConfig(Table):
    """Public services for reference areas (documented endpoints)."""

    geo_api_url: Url = "https://geo.api.gouv.fr"
    wfs_url: Url = "https://data.geopf.fr/wfs/ows"
    wfs_layer_zsc: NonEmpty = "PROTECTEDAREAS.SIC:sic"
    wfs_layer_zps: NonEmpty = "PROTECTEDAREAS.ZPS:zps"
    inpn_statuts_url: Url | None = None             # INPN "BDC statuts" zip (biodiv refs fetch)
    timeout: float = Field(60.0, gt=0, le=3600)


class DashboardConfig(Table):
    public_mode: bool = False                                   # hide observer logins
    refresh_seconds: int = Field(60, ge=5, le=86_400)           # workshop mode auto-refresh
    basemap: Literal["auto", "osm", "ign", "none"] = "auto"
    point_limit: int = Field(3000, ge=0, le=100_000)            # above this, aggregate


class SqlConfig(Table):
    """Limits of ``biodiv sql`` and ``biodiv query run`` (biodiv/analysis/readonly.py)."""

    timeout_seconds: float = Field(60.0, gt=0, le=86_400)       # a longer query is interrupted
    max_rows: int = Field(10_000, ge=1, le=10_000_000)          # rows printed at most
    memory_limit: Annotated[Size, _size_between("64MB", "1TB")] = "1GB"   # memory of a read (DuckDB and the process)
    temp_limit: Annotated[Size, _size_between("0B", "10TB")] = "2GB"      # DuckDB temp files of a read
    max_result_size: Annotated[Size, _size_between("1MB", "100GB")] = "256MB"  # a result, in memory, at most


Uuid = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
                 Expect('a UUID, e.g. "4d331cae-65e4-4948-b0b2-a11bc5bb46c2"')]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), Expect('an e-mail address')]


class ExportsConfig(Table):
    """Who publishes the exports (Darwin Core EML) and the GeoNature dataset they go to."""

    organization: str = ""                      # publisher; default: the territory's name
    contact_name: str = ""
    contact_email: Email | None = None
    jdd_uuid: Uuid | None = None                # GeoNature dataset (jeu de données) UUID
    jdd_nom: str = ""
    ca_uuid: Uuid | None = None                 # its acquisition framework (cadre d'acquisition)
    ca_nom: str = ""


class SensitivityConfig(Table):
    """Sensitive species (docs/sensibilite.md): the cautious default of public outputs while no
    SINP sensitivity referential is imported."""

    default_level: int = Field(2, ge=0, le=4)   # protected/threatened taxa without a referential; 0 = off


Catalog = Annotated[str, StringConstraints(pattern=r"^(sqlite|postgres):\S.*$"),
                    Expect('"sqlite:<file>" or "postgres:<libpq connection string>"')]


class StoreConfig(Table):
    """Where the data lives: one DuckDB file (``db_path``), or a DuckLake (docs/ducklake.md)."""

    backend: Literal["file", "ducklake"] = "file"
    catalog: Catalog = "sqlite:data/catalog.sqlite"   # ducklake: the catalog database
    data_path: NonEmpty = "data/lake/"                 # ducklake: Parquet folder or object-store URL


class Config(Table):
    # ``store`` is also the method that opens the store: the table is the field ``store_``
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, allow_inf_nan=False)

    db_path: NonEmpty = "data/biodiv.duckdb"
    cache_dir: NonEmpty = "data/cache"
    territory: TerritoryConfig = Field(default_factory=TerritoryConfig)
    inaturalist: InatConfig = Field(default_factory=InatConfig)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    sql: SqlConfig = Field(default_factory=SqlConfig)
    exports: ExportsConfig = Field(default_factory=ExportsConfig)
    sensitivity: SensitivityConfig = Field(default_factory=SensitivityConfig)
    store_: StoreConfig = Field(default_factory=StoreConfig, alias="store")

    _source_file: Path | None = PrivateAttr(default=None)
    # the database named by the caller (``--db``, ``--demo``, ``$BIODIV_DB`` read by
    # load_config, a library caller): carried here, never through the environment
    _db_override: Path | None = PrivateAttr(default=None)

    def use_db(self, path: Path | str | None) -> "Config":
        """Make ``path`` this configuration's database (None: back to ``db_path``); returns self."""
        self._db_override = Path(path) if path is not None else None
        return self

    @property
    def source_file(self) -> Path | None:
        """The file this configuration was read from or last saved to (``None``: defaults)."""
        return self._source_file

    @source_file.setter
    def source_file(self, value: Path | str | None) -> None:
        self._source_file = Path(value) if value is not None else None

    # -- derived --------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        return self.source_file.parent if self.source_file else Path.cwd()

    def resolve(self, p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    @property
    def db(self) -> Path:
        """The database file; on a DuckLake, its SQLite catalog file or, for a PostgreSQL
        catalog, the locator file beside ``db_path`` (``<db_path>.lake``, written by the
        store): ``Store(path)`` opens every kind, see :class:`biodiv.store.Store`."""
        if self._db_override is not None:
            return self._db_override
        lake = self.lake_spec()
        if lake is not None:
            return lake.catalog_file or self.file_db.with_suffix(".lake")
        return self.resolve(self.db_path)

    @property
    def file_db(self) -> Path:
        """The single-file database path (``db_path``), whatever the backend."""
        return self.resolve(self.db_path)

    def lake_spec(self):
        """The DuckLake of ``[store]`` (paths resolved), or ``None`` for the file backend."""
        if self.store_.backend != "ducklake":
            return None
        from biodiv.store.lake import LakeSpec

        return LakeSpec(
            self.store_.catalog if self.store_.catalog.startswith("postgres:")
            else "sqlite:" + str(self.resolve(self.store_.catalog.split(":", 1)[1])),
            self.store_.data_path if "://" in self.store_.data_path
            else str(self.resolve(self.store_.data_path)) + "/",
        )

    @property
    def cache(self) -> Path:
        """The download cache folder, created if needed; a file at that path or a folder that
        cannot be written is a one-line error here, not a traceback wherever the cache is
        first written."""
        path = self.resolve(self.cache_dir)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"cache_dir = {self.cache_dir!r} names a file ({path}), not a folder: "
                              "point it at a folder (biodiv.toml)")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cache_dir = {self.cache_dir!r}: cannot create {path} ({exc.strerror or exc}): "
                              "point it at a writable folder (biodiv.toml)") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"cache_dir = {self.cache_dir!r}: {path} is not writable: "
                              "point it at a writable folder (biodiv.toml)")
        return path

    @property
    def inat_api_url(self) -> str:
        return os.environ.get("BIODIV_INAT_API_URL") or self.inaturalist.api_url

    def store(self):
        from biodiv.store.database import Store

        lake = self.lake_spec()
        if lake is not None and self.db != (lake.catalog_file or self.file_db.with_suffix(".lake")):
            return Store(self.db)   # --db/$BIODIV_DB names another store: its content says which kind
        return Store(self.db, lake=lake)

    # -- serialisation ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True, by_alias=True)
        if data.get("store") == StoreConfig().model_dump():
            data.pop("store")   # the default backend: nothing to write
        if data.get("sensitivity") == SensitivityConfig().model_dump():
            data.pop("sensitivity")   # the documented default: nothing to write
        return data

    def save(self, path: Path | str) -> Path:
        """Write the file (``biodiv init``); a value that would not read back is refused first.

        The file is replaced whole (biodiv/files.py): a full disk keeps the previous one."""
        path = Path(path)
        data = self.to_dict()
        validate(data, path)
        write_atomic(
            path,
            "# biodiv configuration: the territory and tunables (see docs/configuration.md).\n"
            + tomli_w.dumps(data),
            "the configuration",
        )
        self.source_file = path.resolve()
        return path


# ---------------------------------------------------------------------------
# Reading and checking
# ---------------------------------------------------------------------------

def config_path(explicit: Path | str | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("BIODIV_CONFIG")
    return Path(env) if env else Path.cwd() / DEFAULT_CONFIG_FILE


def load_config(explicit: Path | str | None = None, db: Path | str | None = None) -> Config:
    """Read and check the config file, or return the defaults (CCVH) when there is none.

    The database is ``db`` when given, else ``$BIODIV_DB`` when set (the one place the
    environment names it), else the file's ``db_path``."""
    cfg = _load_file(explicit)
    chosen = db if db is not None else os.environ.get("BIODIV_DB") or None
    return cfg.use_db(chosen) if chosen else cfg


def _load_file(explicit: Path | str | None) -> Config:
    path = config_path(explicit)
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} does not exist")
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path} is not a biodiv configuration: its arrays or tables are nested too deeply") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is {path.stat().st_size:,} bytes: not a biodiv configuration (at most {MAX_CONFIG_BYTES:,})")
    cfg = validate(raw, path)
    cfg.source_file = path.resolve()
    return cfg


def validate(data: dict[str, Any], path: Path | str) -> Config:
    """``data`` as a :class:`Config`, or one :class:`ConfigError` line naming every bad key."""
    try:
        return Config.model_validate(data)
    except ConfigError as exc:  # raised by Table.__init__, which pydantic also calls for tables
        raise ConfigError(f"config file {path}: {exc}") from None


def _table_of(model: type) -> tuple:
    """Where a table model sits in :class:`Config` (``("dashboard",)``; ``()`` for Config)."""
    for name, field in Config.model_fields.items():
        if field.annotation is model:
            return (field.alias or name,)
    return ()


def _problems(exc: ValidationError, prefix: tuple = ()) -> list[str]:
    """One phrase per bad key: ``table.key = value: expected …``; unknown keys grouped by table."""
    unknown: dict[tuple, list[str]] = {}
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
            continue
        problems.append(f"{_key(loc)} = {_shown(err.get('input'))}: expected {_expected(err, loc)}")
    for table, keys in unknown.items():
        model = _model_at(table)
        known = list(model.model_fields) if model else []
        where = f"[{'.'.join(map(str, table))}]" if table else "the top level (outside any [table])"
        hints = [f"{k} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(k, known, 1)) else k
                 for k in keys]
        problems.insert(0, f"unknown key(s) in {where}: {', '.join(hints)}; known: {', '.join(known)}")
    return problems


def _key(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value: Any) -> str:
    """A value as it is written in TOML."""
    if isinstance(value, dict):
        return "a table"
    try:
        return tomli_w.dumps({"v": value})[4:].strip()
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: Any = Config
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def _field(loc: tuple):
    """The pydantic FieldInfo of the key at ``loc`` (list indexes skipped)."""
    names = [p for p in loc if isinstance(p, str)]
    model = _model_at(tuple(names[:-1])) if names else None
    return model.model_fields.get(names[-1]) if model else None


def _field_expect(loc: tuple) -> str | None:
    """The :class:`Expect` text of the key at ``loc`` (list items included)."""
    field = _field(loc)
    if field is None:
        return None
    stack: list[Any] = [field.annotation, *field.metadata]
    while stack:
        item = stack.pop()
        if isinstance(item, Expect):
            return str(item)
        stack.extend(getattr(item, "__metadata__", ()))
        stack.extend(getattr(item, "__args__", ()))
    return None


_TYPE_WORDS = {
    "float_type": "a number", "int_type": "an integer", "int_from_float": "an integer",
    "bool_type": "true or false", "string_type": "a string in quotes", "list_type": "a list [...]",
}
_TABLE_ERRORS = ("model_type", "model_attributes_type", "dict_type", "is_instance_of")
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _expected(err: dict, loc: tuple) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _BOUNDS:
        field = _field(loc)
        what = "a number" if field is not None and "float" in str(field.annotation) else "an integer"
        text = f"{what} {_BOUNDS[kind]} {_number(next(iter(ctx.values())))}"
        other = _other_bound(field, kind)
        return f"{text} and {other}" if other else text
    if kind == "literal_error":
        return "one of " + str(ctx.get("expected", "")).replace("'", '"')
    if kind in ("string_pattern_mismatch", "string_too_short"):
        return _field_expect(loc) or err["msg"].lower()
    if kind in _TABLE_ERRORS:
        return f"a table [{_key(loc)}]"
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    if kind == "value_error" and ctx.get("error") is not None:
        return str(ctx["error"])
    if kind == "finite_number":
        return "a finite number"
    return err["msg"][0].lower() + err["msg"][1:]


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _other_bound(field, kind: str) -> str | None:
    """The bound on the other side, so that the message gives the whole range."""
    if field is None:
        return None
    lower = kind in ("greater_than", "greater_than_equal")
    for meta in field.metadata:
        for attr, sign in (("le", "<="), ("lt", "<")) if lower else (("ge", ">="), ("gt", ">")):
            value = getattr(meta, attr, None)
            if value is not None:
                return f"{sign} {_number(value)}"
    return None
