"""The DuckLake backend of :class:`biodiv.store.Store`: a catalog database plus Parquet files.

Why: the file backend copies the whole file for every write and keeps it on one machine.
DuckLake keeps the metadata in a catalog (SQLite locally, PostgreSQL for several machines)
and the rows in Parquet files under ``data_path`` (a folder or an object-store URL): a write
adds files and a snapshot, readers in other processes read the last committed snapshot,
never a lock error. So there is no working copy: every transaction a writer commits (a
harvest page, an attach batch) is at once what readers see, and a killed writer loses
only its open transaction.

The lake is attached under the same catalog name as the file (:data:`CATALOG`), so every
``read()``/``write()`` caller runs unchanged; the writer's connection is a
:class:`LakeConnection`, which runs each statement through :func:`lake_sql.translate`
(upserts, sequences and RETURNING, which DuckLake 1.5.5 lacks). The extensions load offline
from the PyPI wheels ``duckdb-extension-ducklake`` and ``duckdb-extension-sqlite-scanner``
(``duckdb-extension-sqlite`` does not load on 1.5.5), ``duckdb-extension-postgres-scanner``
for a PostgreSQL catalog and ``duckdb-extension-httpfs`` for object storage (S3 credentials
from the AWS environment variables, :func:`use_object_storage`).
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Iterator

import duckdb

from biodiv.errors import causes, disk_full_cause, failed_path, free_bytes, megabytes
from biodiv.store import lake_sql
from biodiv.store.engine import (
    CATALOG, StoreBusy, StoreDiskFull, StoreError, StoreMissing, check_schema, connect, migrate, writer_lock,
)

SQLITE_MAGIC = b"SQLite format 3\x00"
# what a full catalog says: SQLite (SQLITE_FULL), PostgreSQL (could not extend a file)
_CATALOG_FULL_TEXT = ("database or disk is full", "could not extend file")
# small data files are merged once there are this many live ones (a harvest page, an attach
# batch and each small commit add one or more)
COMPACT_AFTER_FILES = 64
METADATA = f"__ducklake_metadata_{CATALOG}"


# ---------------------------------------------------------------------------
# extensions, offline
# ---------------------------------------------------------------------------

def _wheel_extension(module: str, name: str) -> Path | None:
    try:
        mod = import_module(module)
    except ImportError:
        return None
    ext = Path(mod.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    return ext if ext.exists() else None


def load_extension(con: duckdb.DuckDBPyConnection, name: str, module: str) -> None:
    """``LOAD name``: from the PyPI wheel when installed (offline), else DuckDB's repository."""
    try:
        con.execute(f"LOAD {name}")
        return
    except duckdb.Error:
        pass
    ext = _wheel_extension(module, name)
    try:
        con.execute(f"LOAD '{ext.as_posix()}'" if ext else f"INSTALL {name}; LOAD {name}")
    except duckdb.Error as exc:
        raise StoreError(
            f"the DuckDB extension {name} cannot be loaded ({str(exc).splitlines()[0]}): "
            f"pip install 'biodiv[ducklake]' (wheel {module.replace('_', '-')}=={duckdb.__version__})"
        ) from None


# ---------------------------------------------------------------------------
# where the lake is
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LakeSpec:
    """``catalog``: ``sqlite:<file>`` or ``postgres:<libpq connection string>``;
    ``data_path``: folder or object-store URL (``None``: the one the catalog recorded)."""

    catalog: str
    data_path: str | None = None

    @property
    def kind(self) -> str:
        kind = self.catalog.split(":", 1)[0].lower()
        if kind not in ("sqlite", "postgres") or ":" not in self.catalog:
            raise StoreError(
                f"[store] catalog must be 'sqlite:<file>' or 'postgres:<connection string>', not {self.catalog!r}"
            )
        return kind

    @property
    def catalog_file(self) -> Path | None:
        return Path(self.catalog.split(":", 1)[1]) if self.kind == "sqlite" else None

    @property
    def display(self) -> str:
        """Where the lake is, for messages (no password)."""
        if self.kind == "sqlite":
            return str(self.catalog_file)
        return "postgres:" + _PASSWORD.sub("password=…", self.catalog.split(":", 1)[1])

    def local_data_dir(self) -> Path | None:
        if self.data_path and "://" not in self.data_path:
            return Path(self.data_path)
        return None


_PASSWORD = re.compile(r"password\s*=\s*(?:'(?:[^'\\]|\\.)*'|\S+)")
# first bytes of a lake locator file (see write_locator)
LOCATOR_KEY = "biodiv_ducklake"


def write_locator(path: Path, spec: LakeSpec) -> None:
    """Write the small JSON file ``path`` that names a lake whose catalog is not a file
    (PostgreSQL): ``Store(path)`` opens that lake, as it opens a SQLite catalog file.

    Why a file: every reader that is handed a path (the dashboard, ``--db``, ``$BIODIV_DB``)
    keeps working, and the dashboard's caches are keyed on the file's identity: the writer
    replaces it (atomic rename) at the end of every write, so the dashboard shows a
    harvest's pages at the end of the command, as with the other backends. The password of
    the connection string is left out (libpq reads ``PGPASSWORD`` or ``~/.pgpass``).
    """
    catalog = "postgres:" + _PASSWORD.sub("", spec.catalog.split(":", 1)[1]).strip()
    text = json.dumps({LOCATOR_KEY: 1, "catalog": re.sub(r"\s+", " ", catalog), "data_path": spec.data_path})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_locator(path: Path) -> LakeSpec | None:
    """The lake named by the locator file ``path`` (:func:`write_locator`), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    if not head.startswith(b'{"' + LOCATOR_KEY.encode()):
        return None
    try:
        data = json.loads(head)
        return LakeSpec(str(data["catalog"]), data.get("data_path"))
    except (ValueError, KeyError, TypeError):
        raise StoreError(f"{path} is a damaged DuckLake locator file: remove it and run `biodiv status`") from None


def is_lake_catalog(path: Path) -> bool:
    """Is ``path`` a SQLite file (a DuckLake catalog) rather than a DuckDB database?"""
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def use_wal(catalog: Path | None) -> None:
    """Put a SQLite catalog in write-ahead-log mode (kept in the file), once.

    Why: in SQLite's default rollback-journal mode a reader is refused ("database is
    locked") while a writer commits; in WAL mode readers keep reading the last committed
    state during a commit (sqlite.org/wal.html). Seen without it: a reader in the harvest's
    process failed during a page commit on a loaded machine.
    """
    if catalog is None or not catalog.exists() or catalog.stat().st_size == 0:
        return
    import sqlite3

    try:
        db = sqlite3.connect(catalog, timeout=5)
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
        finally:
            db.close()
    except sqlite3.Error:
        pass   # busy or not a SQLite file: the attach that follows says what is wrong


def attach_lake(spec: LakeSpec, read_only: bool, con: duckdb.DuckDBPyConnection | None = None,
                name: str = CATALOG) -> duckdb.DuckDBPyConnection:
    """``con`` (or a new instance with spatial) with the lake attached as ``name``.

    Attached as :data:`CATALOG` (the default) it is in use and ``con`` is closed on failure;
    under another name (a second store on a shared instance, e.g. the dashboard's spatial
    one, :func:`biodiv.store.database.attach_store`) only the ATTACH is done."""
    own = con is None or name == CATALOG
    con = connect(None) if con is None else con
    try:
        load_extension(con, "ducklake", "duckdb_extension_ducklake")
        if spec.kind == "sqlite":
            load_extension(con, "sqlite_scanner", "duckdb_extension_sqlite_scanner")
        else:
            load_extension(con, "postgres_scanner", "duckdb_extension_postgres_scanner")
        if spec.data_path and "://" in spec.data_path:
            use_object_storage(con, spec.data_path)
    except BaseException:
        if own:
            con.close()
        raise
    options = ["READ_ONLY"] if read_only else []
    if spec.data_path and not read_only:
        options.append(f"DATA_PATH '{_quote(spec.data_path)}'")
    opts = f" ({', '.join(options)})" if options else ""
    try:
        con.execute(f"ATTACH 'ducklake:{_quote(spec.catalog)}' AS {name}{opts}")
    except duckdb.Error as exc:
        if own:
            con.close()
        msg = _PASSWORD.sub("password=…", str(exc).splitlines()[0])   # DuckDB quotes the connection string
        if "lock" in msg.lower():
            raise StoreBusy(f"the DuckLake catalog {spec.display} is locked: {msg}") from None
        raise StoreError(f"the DuckLake catalog {spec.display} cannot be opened ({msg})") from None
    data_path = recorded_data_path(con, name) if (not spec.data_path or read_only) else spec.data_path
    if data_path and "://" in data_path and not spec.data_path:
        use_object_storage(con, data_path)   # a reader learns the data path from the catalog
    if name != CATALOG:
        return con
    con.execute(f"USE {CATALOG}")
    # DuckLake's scans of many small files can pass DuckDB's 2 s progress-bar threshold: a
    # library prints nothing on stdout
    con.execute("SET enable_progress_bar = false")
    if read_only:
        _allow_lake_files(con, spec, data_path)
    return con


def recorded_data_path(con: duckdb.DuckDBPyConnection, name: str = CATALOG) -> str | None:
    row = con.execute(f"SELECT value FROM {name}.options() WHERE option_name = 'data_path'").fetchone()
    return row[0] if row else None


S3_MAX_FILE = "60GB"
# S3 settings from the environment, named as the AWS SDKs and CLI name them
S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
          "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def use_object_storage(con: duckdb.DuckDBPyConnection, data_path: str) -> None:
    """Load httpfs for a data path on object storage (``s3://``, ``gs://``, ``r2://``, …) and,
    for ``s3://`` with ``AWS_ACCESS_KEY_ID`` set, a temporary DuckDB S3 secret from the AWS
    environment variables (``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``,
    ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` for another S3 service, path-style).

    Why the environment: credentials never go into the config file or the catalog; without
    these variables DuckDB's own secrets apply (``CREATE PERSISTENT SECRET``, docs/ducklake.md).
    """
    load_extension(con, "httpfs", "duckdb_extension_httpfs")
    # a multipart upload buffers one part of max_filesize / 10,000 parts: DuckDB's default
    # (800 GB) makes it 80 MB per file written, more than a harvest's whole memory limit
    # (64 MB, biodiv.inat.harvest); 60 GB gives 6 MB parts (S3's minimum is 5 MiB)
    con.execute(f"SET s3_uploader_max_filesize = {_literal(S3_MAX_FILE)}")
    env = {k: os.environ.get(k) for k in S3_ENV}
    if not data_path.lower().startswith("s3://") or not env["AWS_ACCESS_KEY_ID"]:
        return
    bucket = data_path.split("://", 1)[1].split("/", 1)[0]
    opts = [f"KEY_ID {_literal(env['AWS_ACCESS_KEY_ID'])}",
            f"SECRET {_literal(env['AWS_SECRET_ACCESS_KEY'] or '')}",
            f"SCOPE {_literal('s3://' + bucket)}"]
    if env["AWS_SESSION_TOKEN"]:
        opts.append(f"SESSION_TOKEN {_literal(env['AWS_SESSION_TOKEN'])}")
    region = env["AWS_REGION"] or env["AWS_DEFAULT_REGION"]
    if region:
        opts.append(f"REGION {_literal(region)}")
    endpoint = env["AWS_ENDPOINT_URL_S3"] or env["AWS_ENDPOINT_URL"]
    if endpoint:
        scheme, _, host = endpoint.rstrip("/").rpartition("://")
        opts += [f"ENDPOINT {_literal(host)}", "URL_STYLE 'path'",
                 f"USE_SSL {'false' if scheme.lower() == 'http' else 'true'}"]
    try:
        con.execute(f"CREATE OR REPLACE TEMPORARY SECRET biodiv_s3 (TYPE s3, {', '.join(opts)})")
    except duckdb.Error as exc:
        raise StoreError(f"the S3 settings of the environment (AWS_*) are refused: {str(exc).splitlines()[0]}") from None


def _quote(s: str) -> str:
    return s.replace("'", "''")


def _literal(s: str) -> str:
    """A SQL string literal. Literals rather than bound parameters here: DuckDB's client
    imports pandas on the first bound parameter (see biodiv.pandas_guard)."""
    return "'" + _quote(s) + "'"


def _allow_lake_files(con: duckdb.DuckDBPyConnection, spec: LakeSpec, data_path: str | None) -> None:
    """Let the lake's own files be read once ad-hoc SQL turns file access off (lock_down)."""
    dirs = [d for d in (data_path,) if d]
    if dirs:
        con.execute(f"SET allowed_directories = [{', '.join(_literal(d) for d in dirs)}]")
    if spec.catalog_file is not None:
        con.execute(f"SET allowed_paths = [{_literal(str(spec.catalog_file))}]")


# ---------------------------------------------------------------------------
# the writer's connection
# ---------------------------------------------------------------------------

class LakeConnection:
    """A DuckDB connection whose ``execute``/``executemany`` speak DuckLake (see lake_sql).

    Everything else (fetch*, register, cursor, …) is the wrapped connection's.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: lake_sql.LakeSchema):
        self._con = con
        self._schema = schema

    def execute(self, query: str, parameters: Any = None) -> "LakeConnection":
        steps = _steps(query, self._schema)
        if not steps:
            return self
        for step in steps:
            params = lake_sql.step_params(step, step.sql, parameters)
            if params is None or params == [] or params == {}:
                self._con.execute(step.sql)
            else:
                self._con.execute(step.sql, params)
        return self

    def executemany(self, query: str, parameters: Any = None) -> "LakeConnection":
        for params in parameters or []:
            self.execute(query, params)
        return self

    def cursor(self) -> "LakeConnection":
        return LakeConnection(self._con.cursor(), self._schema)

    def close(self) -> None:
        self._con.close()

    def __getattr__(self, name: str):
        return getattr(self._con, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_STEP_CACHE: dict[str, tuple[lake_sql.Step, ...]] = {}


def _steps(query: str, schema: lake_sql.LakeSchema) -> tuple[lake_sql.Step, ...]:
    steps = _STEP_CACHE.get(query)
    if steps is None:
        stmts = duckdb.extract_statements(query) if ";" in query else None
        texts = [s.query for s in stmts] if stmts and len(stmts) > 1 else [query]
        steps = tuple(step for text in texts for step in lake_sql.translate(text, schema))
        if len(_STEP_CACHE) > 512:
            _STEP_CACHE.clear()
        _STEP_CACHE[query] = steps
    return steps


# ---------------------------------------------------------------------------
# migrations on the lake
# ---------------------------------------------------------------------------

def migrate_lake(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the missing migrations, translated for DuckLake, each in one transaction."""
    schema = lake_sql.lake_schema()
    return migrate(con, lambda m: schema.statements[m.version])


def start_sequences(con: duckdb.DuckDBPyConnection, schema: lake_sql.LakeSchema) -> None:
    """Temporary sequences past the stored maximum, for the columns a sequence numbered."""
    for table, (column, seq) in schema.sequences.items():
        top = con.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchone()[0]
        con.execute(f"CREATE OR REPLACE TEMP SEQUENCE {seq} START {int(top) + 1}")


# ---------------------------------------------------------------------------
# snapshots and compaction
# ---------------------------------------------------------------------------

def live_files(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(number, bytes) of the data files the last snapshot uses."""
    row = con.execute(
        f"SELECT count(*), coalesce(sum(file_size_bytes), 0) FROM {METADATA}.ducklake_data_file "
        "WHERE end_snapshot IS NULL"
    ).fetchone()
    return int(row[0]), int(row[1])


def snapshot_summary(con: duckdb.DuckDBPyConnection) -> dict:
    """Snapshots (count, last id and time, the last few changes) and live data files."""
    n, last_id, last_time = con.execute(
        f"SELECT count(*), max(snapshot_id), max(snapshot_time) FROM {CATALOG}.snapshots()"
    ).fetchone()
    recent = con.execute(
        f"SELECT snapshot_id, snapshot_time, changes FROM {CATALOG}.snapshots() ORDER BY snapshot_id DESC LIMIT 5"
    ).fetchall()
    files, size = live_files(con)
    data_path = con.execute(f"SELECT value FROM {CATALOG}.options() WHERE option_name = 'data_path'").fetchone()
    return {
        "snapshots": int(n), "last_snapshot": last_id, "last_snapshot_at": str(last_time) if last_time else None,
        "data_files": files, "data_bytes": size, "data_path": data_path[0] if data_path else None,
        "recent": [{"id": r[0], "at": str(r[1]), "changes": {k: list(v) for k, v in (r[2] or {}).items()}}
                   for r in recent],
    }


def compact(con: duckdb.DuckDBPyConnection, expire_older_than: str | None = None) -> dict:
    """Merge small adjacent data files; optionally expire old snapshots and delete the files
    no snapshot uses any more (time travel before that point is then gone)."""
    before = live_files(con)
    con.execute(f"CALL ducklake_merge_adjacent_files('{CATALOG}')")
    expired = 0
    if expire_older_than is not None:
        expired = len(con.execute(
            f"CALL ducklake_expire_snapshots('{CATALOG}', older_than => now() - CAST(? AS INTERVAL))",
            [expire_older_than],
        ).fetchall())
        con.execute(f"CALL ducklake_cleanup_old_files('{CATALOG}', cleanup_all => true)")
    after = live_files(con)
    return {"files_before": before[0], "files_after": after[0], "bytes_after": after[1],
            "snapshots_expired": expired}


# ---------------------------------------------------------------------------
# the backend Store delegates to
# ---------------------------------------------------------------------------

class LakeBackend:
    """reader/read/write/exists for a :class:`LakeSpec` (see :class:`biodiv.store.Store`).

    ``locator``: the file that names this lake for path-based readers when its catalog is not
    a file (PostgreSQL, :func:`write_locator`); writers refresh it at the end of every write.
    """

    def __init__(self, spec: LakeSpec, lock_path: Path, locator: Path | None = None):
        self.spec = spec
        self.lock_path = lock_path
        self.locator = locator if spec.kind != "sqlite" else None

    def exists(self) -> bool:
        if self.spec.kind == "sqlite":
            f = self.spec.catalog_file
            return f.exists() and f.stat().st_size > 0
        try:
            con = attach_lake(self.spec, read_only=True, con=duckdb.connect(":memory:"))
        except StoreError:
            return False
        con.close()
        return True

    def _missing(self) -> StoreMissing:
        return StoreMissing(
            f"no DuckLake catalog at {self.spec.display}: run `biodiv init` "
            "(or `biodiv store migrate --to ducklake` from a database file)"
        )

    def reader(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        if self.spec.kind == "sqlite" and not self.exists():
            raise self._missing()
        try:
            con = attach_lake(self.spec, read_only=True, con=con)
        except StoreBusy:
            raise
        except StoreError as exc:
            # PostgreSQL: a catalog database without DuckLake's tables (a new, empty one)
            if self.spec.kind != "sqlite" and "creating a new DuckLake is explicitly disabled" in str(exc):
                raise self._missing() from None
            raise
        check_schema(con, f"the DuckLake {self.spec.display}")
        self._refresh_locator(only_if_missing=True)
        return con

    def _refresh_locator(self, only_if_missing: bool = False) -> None:
        if self.locator is None or (only_if_missing and self.locator.exists()):
            return
        try:
            write_locator(self.locator, self.spec)
        except OSError:
            pass   # a read-only folder: path-based readers need it, the others do not

    def _lock(self):
        return writer_lock(self.lock_path, self.spec.display)

    def _disk_full(self, exc: BaseException) -> StoreDiskFull | None:
        """The line for a write that filled the disk of the data path or of the catalog, or None.

        Nothing committed is lost: DuckLake writes a transaction's Parquet files first and
        commits it in the catalog last, so the failed transaction is rolled back whole (its
        files are left unreferenced until ``biodiv store maintenance --expire-older-than``).
        """
        cause = disk_full_cause(exc)
        if cause is None:
            cause = next((e for e in causes(exc) if any(t in str(e) for t in _CATALOG_FULL_TEXT)), None)
        if cause is None:
            return None
        local = self.spec.local_data_dir()
        default = local if local is not None else (self.spec.catalog_file or self.lock_path)
        where = failed_path(cause, default)
        return StoreDiskFull(
            f"disk full while writing the DuckLake {self.spec.display} ({where}, "
            f"{megabytes(free_bytes(where))} free): every transaction committed before is kept "
            f"(a harvest resumes from its last committed page), the one being written was rolled back; "
            f"free space in {where if where.is_dir() else where.parent} and run the command again"
        )

    @contextmanager
    def write(self, create: bool = False) -> Iterator[LakeConnection]:
        """A writer on the lake: each committed transaction is a snapshot readers see.

        Nothing to publish at the end; small files are merged once they pile up, and the
        locator file (PostgreSQL catalog) is replaced so that path-keyed readers refresh.
        """
        with self._lock():
            if not create and not self.exists():
                raise StoreMissing(f"no DuckLake catalog at {self.spec.display}: run `biodiv init` first")
            if self.spec.catalog_file is not None:
                self.spec.catalog_file.parent.mkdir(parents=True, exist_ok=True)
            local = self.spec.local_data_dir()
            if local is not None:
                local.mkdir(parents=True, exist_ok=True)
            use_wal(self.spec.catalog_file)
            con = attach_lake(self.spec, read_only=False)
            try:
                migrate_lake(con)
                schema = lake_sql.lake_schema()
                start_sequences(con, schema)
                yield LakeConnection(con, schema)
                if live_files(con)[0] >= COMPACT_AFTER_FILES:
                    compact(con)
            except Exception as exc:
                full = self._disk_full(exc)
                if full is None:
                    raise
                raise full from None
            finally:
                con.close()
                use_wal(self.spec.catalog_file)   # a catalog this writer created
                self._refresh_locator()
