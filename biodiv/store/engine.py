"""The DuckDB engine under the store: connections with spatial loaded offline, the
numbered migrations, the schema check, the writer lock and transactions.

Why apart from :mod:`biodiv.store.database`: both backends (the single file and the
DuckLake of :mod:`biodiv.store.lake`) are built on these, and :class:`~biodiv.store.database.Store`
chooses between the backends; keeping the shared pieces below both is what lets the
imports point one way (engine <- lake <- database), with no cycle.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Iterator

import duckdb

from biodiv.errors import BiodivError, DiskFull, causes, disk_full_cause


class StoreError(BiodivError):
    """A problem with the database file that the user must act on (one-line message)."""


class StoreMissing(StoreError):
    pass


class StoreBusy(StoreError):
    pass


class StoreCorrupt(StoreError):
    """The file's blocks fail DuckDB's checksums (or its header is damaged)."""


class StoreDiskFull(StoreError, DiskFull):
    pass


# What DuckDB says, first line (duckdb 1.5): a lock held by another process, a damaged block.
_LOCK_TEXT = ("Could not set lock on file", "Conflicting lock is held")
_CORRUPT_TEXT = ("Corrupt database file", "does not match stored checksum")


def failure_kind(exc: BaseException) -> str | None:
    """``"disk_full"``, ``"corrupt"`` or ``"busy"`` for a failure of the chain of ``exc``
    that the user must act on in a specific way, else None.

    Why on the message: DuckDB raises one ``IOException`` class for all three (and a
    lock error is not a substring test on "lock": "block" contains it)."""
    if disk_full_cause(exc) is not None:
        return "disk_full"
    for e in causes(exc):
        if not isinstance(e, duckdb.Error):
            continue
        msg = str(e)
        if any(t in msg for t in _LOCK_TEXT):
            return "busy"
        if any(t in msg for t in _CORRUPT_TEXT):
            return "corrupt"
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.removeprefix("IO Error: ")


def corrupt_error(path: Path, exc: BaseException) -> StoreCorrupt:
    detail = next((first_line(e) for e in causes(exc) if isinstance(e, duckdb.Error)), first_line(exc))
    return StoreCorrupt(
        f"{path} is corrupt ({detail}); it was left untouched: restore a backup, or move it away "
        "and rebuild it with `biodiv init` then `biodiv update`"
    )


def _open_error(path: Path | str, exc: BaseException) -> StoreError:
    """The one-line error for a file DuckDB refused to open or attach."""
    msg = first_line(exc)
    kind = failure_kind(exc)
    if kind == "busy":
        return StoreBusy(f"{path} is locked by another process: {msg}")
    if kind == "corrupt":
        return corrupt_error(Path(path), exc)
    return StoreError(
        f"{path} is not a readable DuckDB database ({msg}): check the path (`--db`, `db_path`), "
        "restore a backup, or move it away and run `biodiv init`"
    )


# ---------------------------------------------------------------------------
# Spatial extension
# ---------------------------------------------------------------------------

def spatial_extension_file() -> Path | None:
    """Path of the spatial extension shipped by the PyPI wheel, if installed."""
    try:
        import duckdb_extension_spatial
    except ImportError:
        return None
    ext = (
        Path(duckdb_extension_spatial.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "spatial.duckdb_extension"
    )
    return ext if ext.exists() else None


def load_spatial(con: duckdb.DuckDBPyConnection) -> None:
    """Load DuckDB spatial: installed once from the wheel (offline), else from DuckDB's
    repository; later connections only LOAD it."""
    try:
        con.execute("LOAD spatial")
        return
    except duckdb.Error:
        pass
    ext = spatial_extension_file()
    con.execute(f"INSTALL '{ext.as_posix()}'" if ext is not None else "INSTALL spatial")
    con.execute("LOAD spatial")


def connect(path: Path | str | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a connection (``None`` = in memory) with spatial loaded.

    Raises :class:`StoreError` with a one-line message for a file that is not a
    DuckDB database.
    """
    target = ":memory:" if path is None else str(path)
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.IOException as exc:
        raise _open_error(target, exc) from None
    except duckdb.Error as exc:
        raise StoreError(f"{target} could not be opened: {str(exc).splitlines()[0]}") from None
    _quiet(con)  # before loading spatial: loading the 81 MB extension can itself take > 2 s
    load_spatial(con)
    return con


def _quiet(con: duckdb.DuckDBPyConnection) -> None:
    """No DuckDB progress bar: it is drawn on stdout for statements over 2 s (a loaded machine
    is enough) and ends up in command output and CSV. A per-connection setting."""
    con.execute("SET enable_progress_bar = false")


# Rows per row group of the files biodiv writes. DuckDB's default (122,880) makes every
# checkpoint during a harvest rewrite a row group of ~3 KB raw records (~360 MB in
# memory); 16,384 keeps a harvest's peak memory flat whatever the number of
# observations (measured: 755 MB -> 276 MB for 200k records).
ROW_GROUP_SIZE = 16_384
CATALOG = "biodiv"   # the name the database file is attached under (open_attached)


def open_attached(
    path: Path, read_only: bool, con: duckdb.DuckDBPyConnection | None = None
) -> duckdb.DuckDBPyConnection:
    """A private in-memory instance (``con``, or a new one) with ``path`` attached as
    :data:`CATALOG` and in use.

    Why not ``duckdb.connect(path)``: DuckDB keeps one instance per path and process,
    so a reader could keep seeing a file a writer has since replaced; and ATTACH is where
    the row-group size of written data is set.
    """
    con = connect(None) if con is None else con
    quoted = str(path).replace("'", "''")
    options = "READ_ONLY" if read_only else f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}"
    try:
        con.execute(f"ATTACH '{quoted}' AS {CATALOG} ({options})")
    except duckdb.Error as exc:
        con.close()
        raise _open_error(path, exc) from None
    con.execute(f"USE {CATALOG}")
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new connection to ``con``'s instance (for another thread), on the database file:
    a DuckDB cursor starts in the instance's default catalog, not the one in use."""
    cur = con.cursor()
    _quiet(cur)
    cur.execute(f"USE {CATALOG}")
    return cur


# ---------------------------------------------------------------------------
# Migrations
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Numbered SQL files of ``biodiv/store/migrations`` (``NNN_name.sql``), in order."""
    found = []
    for entry in resources.files("biodiv.store.migrations").iterdir():
        name = entry.name
        if not name.endswith(".sql") or not name[:3].isdigit():
            continue
        found.append(Migration(int(name[:3]), name[4:-4], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in biodiv/store/migrations: {versions}")
    return found


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def latest_version() -> int:
    return max((m.version for m in migrations()), default=0)


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    if schema_version(con) == 0:
        return set()
    return {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}


def check_schema(con: duckdb.DuckDBPyConnection, what: str) -> None:
    """Refuse (and close) a reader on a store that lacks migrations: one line naming
    ``what`` (the file, or the DuckLake) and the command that upgrades it."""
    missing = {m.version for m in migrations()} - applied_versions(con)
    if missing:
        have = schema_version(con)
        con.close()
        raise StoreError(
            f"{what} has schema version {have} and lacks migration(s) "
            f"{', '.join(map(str, sorted(missing)))}: run `biodiv migrate` to upgrade it"
        )


def migrate(
    con: duckdb.DuckDBPyConnection,
    statements: Callable[[Migration], Iterable[str]] = lambda m: (m.sql,),
) -> list[int]:
    """Apply every migration not yet recorded, in order, each in its own transaction.

    Missing numbers are applied even below the highest recorded one, so a migration
    that lands after a later-numbered one is never skipped. ``statements`` gives the SQL
    run for a migration: its file as is, or the DuckLake backend's translation of it
    (:func:`biodiv.store.lake.migrate_lake`). The record is written without bound
    parameters, which would make DuckDB import pandas.
    """
    done = applied_versions(con)
    applied = []
    for m in migrations():
        if m.version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for stmt in statements(m):
                con.execute(stmt)
            name = m.name.replace("'", "''")
            con.execute(f"INSERT INTO schema_migrations (version, name) VALUES ({int(m.version)}, '{name}')")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(m.version)
    return applied


# ---------------------------------------------------------------------------
@contextmanager
def writer_lock(lock_path: Path, what: object) -> Iterator[None]:
    """The one-writer-at-a-time lock of a store (file or DuckLake): an exclusive ``flock`` on
    ``lock_path`` holding the writer's pid, so a second writer is refused in one line naming
    the first, and a killed writer's lock goes with its process."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:   # a read-only folder or disk, no permission: before anything is written
        raise StoreError(
            f"cannot write in {lock_path.parent} ({exc.strerror or exc}): this command writes the store "
            f"and needs that folder writable; {what} is unchanged"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise StoreBusy(
                f"another biodiv command is writing {what} (pid {holder}); try again when it ends"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``BEGIN … COMMIT``, rolled back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
