"""The one place that opens the DuckDB file.

Why a working copy: a DuckDB file is opened by one read-write process *or* by many
read-only processes, never both. The dashboard and analysts must keep reading while a
harvest runs, so writers never open the published file. A writer works on
``<db>.wip`` (a copy of the published file, or the leftover of a killed run, which is
how a harvest resumes) and, when it finishes cleanly, atomically renames it over the
published file. Readers holding the old file keep their snapshot; new readers see the
new one. A writer that fails leaves the published file exactly as it was.

Every connection has the spatial extension loaded, offline from the
``duckdb-extension-spatial`` wheel when it is installed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Iterator

import duckdb

from biodiv.errors import BiodivError, DiskFull, causes, disk_full_cause, failed_path, free_bytes, megabytes


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.removeprefix("IO Error: ")


def corrupt_error(path: Path, exc: BaseException) -> StoreCorrupt:
    detail = next((_first_line(e) for e in causes(exc) if isinstance(e, duckdb.Error)), _first_line(exc))
    return StoreCorrupt(
        f"{path} is corrupt ({detail}); it was left untouched: restore a backup, or move it away "
        "and rebuild it with `biodiv init` then `biodiv update`"
    )


def _open_error(path: Path | str, exc: BaseException) -> StoreError:
    """The one-line error for a file DuckDB refused to open or attach."""
    msg = _first_line(exc)
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
# The store: published file, working copy, readers and writers
# ---------------------------------------------------------------------------

@contextmanager
def writer_lock(lock_path: Path, what: object) -> Iterator[None]:
    """The one-writer-at-a-time lock of a store (file or DuckLake): an exclusive ``flock`` on
    ``lock_path`` holding the writer's pid, so a second writer is refused in one line naming
    the first, and a killed writer's lock goes with its process."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
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


class Store:
    """The biodiv DuckDB file at ``path`` and its working copy, or a DuckLake (``lake``).

    ``lake`` (a :class:`biodiv.store.lake.LakeSpec`) selects the DuckLake backend
    (:mod:`biodiv.store.lake`); a ``path`` that is a SQLite file is taken as the catalog of
    one, and a lake locator file (:func:`biodiv.store.lake.write_locator`) as the lake it
    names (a PostgreSQL catalog), so ``Store(path)`` callers (dashboard) open every kind.
    The lock stays at ``path``; for a PostgreSQL catalog ``path`` is its locator file.
    """

    def __init__(self, path: Path | str, lake=None):
        self.path = Path(path)
        self.resumed = False   # set by each writer: did it resume a leftover working copy?
        self.lake = None
        from biodiv.store import lake as lake_backend

        if lake is None and lake_backend.is_lake_catalog(self.path):
            lake = lake_backend.LakeSpec(f"sqlite:{self.path}")
        if lake is None:
            lake = lake_backend.read_locator(self.path)
        if lake is not None:
            self.lake = lake_backend.LakeBackend(lake, self.lock_path, locator=self.path)

    @property
    def wip_path(self) -> Path:
        return self.path.with_name(self.path.name + ".wip")

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def exists(self) -> bool:
        return self.lake.exists() if self.lake else self.path.exists()

    # -- readers ------------------------------------------------------------
    def reader(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A read-only connection on the published file (never blocks a writer).

        The file is attached to a private in-memory instance (:func:`open_attached`; ``con``
        when given, e.g. the dashboard's plain instances without spatial), so a reader
        always sees what the path holds now, even after a writer replaced it.
        """
        if self.lake:
            return self.lake.reader(con)
        if not self.path.exists():
            raise StoreMissing(
                f"no database at {self.path}: run `biodiv init` then `biodiv update` (or `biodiv demo`)"
            )
        con = open_attached(self.path, read_only=True, con=con)
        check_schema(con, str(self.path))
        return con

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A reader, closed after use; damaged blocks met while reading are reported as a
        corrupt file (one line) instead of DuckDB's error."""
        con = self.reader()
        try:
            yield con
        except duckdb.Error as exc:
            if failure_kind(exc) == "corrupt":
                raise corrupt_error(self.path, exc) from None
            raise
        finally:
            con.close()

    # -- writers ------------------------------------------------------------
    def _lock(self):
        return writer_lock(self.lock_path, self.path)

    def _open_wip(self) -> duckdb.DuckDBPyConnection:
        """Open the working copy: a killed run's leftover (resumed) or a fresh copy.

        One connection only: opening a DuckDB file with spatial costs ~0.3 s.
        """
        wal = Path(str(self.wip_path) + ".wal")
        if self.wip_path.exists() and self.path.exists() and (
            self.path.stat().st_mtime > max(self.wip_path.stat().st_mtime,
                                            wal.stat().st_mtime if wal.exists() else 0)
        ):
            # the published file changed after the leftover was last written (e.g. a
            # restored backup): the leftover is stale, never let it override the file
            self.wip_path.unlink()
            wal.unlink(missing_ok=True)
        self.resumed = False
        if self.wip_path.exists():
            try:
                con = open_attached(self.wip_path, read_only=False)  # a killed run's work: resume
                self.resumed = True
                return con
            except StoreBusy:
                raise
            except StoreError:
                self.wip_path.unlink()
                wal.unlink(missing_ok=True)
        if self.path.exists():
            tmp = self.wip_path.with_name(self.wip_path.name + ".tmp")
            try:
                shutil.copyfile(self.path, tmp)
                # on disk before it is renamed (a crash never leaves a half-written copy
                # under the working name), and so that the first commit of whatever runs
                # next does not pay for flushing the whole copy (~0.2 s per 80 MB)
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                if disk_full_cause(exc) is None:
                    raise
                need = self.path.stat().st_size
                raise StoreDiskFull(
                    f"disk full in {self.wip_path.parent}: the working copy of {self.path.name} needs "
                    f"{megabytes(need)}, {megabytes(free_bytes(self.wip_path.parent))} free; nothing was "
                    f"changed ({self.path} is intact): free at least {megabytes(need)} there and run the command again"
                ) from None
            os.replace(tmp, self.wip_path)
            try:
                return open_attached(self.wip_path, read_only=False)
            except StoreError as exc:
                self.wip_path.unlink()
                wal.unlink(missing_ok=True)
                if isinstance(exc, StoreCorrupt):
                    raise corrupt_error(self.path, exc.__context__ or exc) from None
                raise StoreError(
                    f"{self.path} is not a readable DuckDB database (left untouched): "
                    "restore a backup, or move it away and run `biodiv init`"
                ) from None
        return open_attached(self.wip_path, read_only=False)

    def _publish(self) -> None:
        os.replace(self.wip_path, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @contextmanager
    def write(self, create: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection on the working copy, published atomically on success.

        ``create=False`` refuses to create a database that does not exist yet (only
        ``biodiv init`` and the demo create one). On an exception nothing is published:
        the working copy stays so that committed work (harvest pages) resumes next time.
        On DuckLake (:meth:`biodiv.store.lake.LakeBackend.write`) each commit is published.
        """
        if self.lake:
            with self.lake.write(create=create) as con:
                yield con
            return
        with self._lock():
            if not create and not self.path.exists() and not self.wip_path.exists():
                raise StoreMissing(f"no database at {self.path}: run `biodiv init` first")
            con = self._open_wip()
            try:
                migrate(con)
                yield con
                con.execute("CHECKPOINT biodiv")
            except BaseException as exc:
                con.close()
                kind = failure_kind(exc)
                if kind == "disk_full":
                    raise self._disk_full(exc) from None
                if kind == "corrupt":
                    raise self._corrupt_wip(exc, self.resumed) from None
                raise
            con.close()
            self._publish()

    def _disk_full(self, exc: BaseException) -> StoreDiskFull:
        """The line for a write that filled its disk. The working copy is kept: what was
        committed in it (harvest pages) resumes once space is freed, and the published file
        was never opened for writing."""
        where = failed_path(disk_full_cause(exc), self.wip_path)
        wip = self.wip_path.stat().st_size if self.wip_path.exists() else 0
        published = self.path.stat().st_size if self.path.exists() else wip
        kept = (
            f"the working copy {self.wip_path.name} ({megabytes(wip)}) is kept and the next run resumes "
            f"from it (delete it to start over)" if self.wip_path.exists() else "nothing was kept"
        )
        return StoreDiskFull(
            f"disk full while writing {where} ({megabytes(free_bytes(where))} free): free at least "
            f"{megabytes(published)} in {where.parent} and run the command again; {self.path} is intact, {kept}"
        )

    def _corrupt_wip(self, exc: BaseException, resumed: bool) -> StoreCorrupt:
        """Damaged blocks met while writing: the working copy is removed (it cannot be
        trusted) and the line says which file is damaged."""
        self.wip_path.unlink(missing_ok=True)
        Path(str(self.wip_path) + ".wal").unlink(missing_ok=True)
        if resumed:
            detail = next((_first_line(e) for e in causes(exc) if isinstance(e, duckdb.Error)), "")
            return StoreCorrupt(
                f"the working copy left by an interrupted run was corrupt ({detail}) and was removed; "
                f"{self.path} is untouched: run the command again"
            )
        return corrupt_error(self.path, exc)

    def discard_wip(self) -> None:
        """Forget unpublished work (used after a failed step whose effects must not survive).
        A lake has none: its commits are published."""
        if self.lake:
            return
        with self._lock():
            self.wip_path.unlink(missing_ok=True)
            Path(str(self.wip_path) + ".wal").unlink(missing_ok=True)


def attach_store(con: duckdb.DuckDBPyConnection, path: Path | str, name: str) -> None:
    """Attach the store at ``path`` read-only to ``con`` as ``name``: a DuckDB file, or the
    DuckLake its path names (a SQLite catalog, a locator file), so that an instance shared by
    several stores (the dashboard's spatial one) reads every backend."""
    store = Store(path)
    if store.lake is not None:
        from biodiv.store.lake import attach_lake

        attach_lake(store.lake.spec, read_only=True, con=con, name=name)
        return
    quoted = str(path).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS {name} (READ_ONLY)")


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
