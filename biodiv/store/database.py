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

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from biodiv.errors import causes, disk_full_cause, failed_path, free_bytes, megabytes
from biodiv.store import lake as lake_backend
# the engine's names are re-exported: ``from biodiv.store.database import connect`` is the
# interface every module and analyst already uses
from biodiv.store.engine import (  # noqa: F401
    StoreError,
    StoreMissing,
    StoreBusy,
    StoreCorrupt,
    StoreDiskFull,
    failure_kind,
    first_line,
    corrupt_error,
    spatial_extension_file,
    load_spatial,
    connect,
    ROW_GROUP_SIZE,
    CATALOG,
    open_attached,
    cursor,
    Migration,
    migrations,
    schema_version,
    latest_version,
    applied_versions,
    check_schema,
    migrate,
    writer_lock,
    transaction,
)


class NotBiodiv(StoreError):
    """A DuckDB file of another program: refused before anything is written."""


def refuse_foreign(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse (one line) a database that is not a biodiv store: tables but no
    ``schema_migrations``, or a ``schema_migrations`` whose recorded migrations are not
    biodiv's (another program's Rails-like table). An empty file is accepted (``init``).

    Why: ``biodiv attach`` on a file holding a table ``sales`` published it with 27 biodiv
    tables added, and one with its own ``observations`` table failed with a traceback and
    left a working copy. Checked on the opened working copy, before the migrations run, so
    the file the user pointed at is never changed."""
    tables = sorted(r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
    ).fetchall())
    if not tables:
        return
    problem = None
    if "schema_migrations" not in tables:
        problem = "no table schema_migrations"
    else:
        ours = {m.version: m.name for m in migrations()}
        try:
            recorded = con.execute("SELECT version, name FROM schema_migrations").fetchall()
        except duckdb.Error:
            recorded = None
        if recorded is None:
            problem = "its schema_migrations table is not biodiv's"
        else:
            known = [(v, n) for v, n in recorded if v in ours]
            if (recorded and not known) or any(ours[v] != n for v, n in known):
                problem = "its schema_migrations records migrations that are not biodiv's"
    if problem is not None:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise NotBiodiv(
            f"{path} is not a biodiv database ({problem}; it holds {len(tables)} table(s) of another "
            f"program: {shown}): nothing was changed; check the path (--db, db_path) or run `biodiv init` "
            "with a new file"
        )


# ---------------------------------------------------------------------------
# The store: published file, working copy, readers and writers
# ---------------------------------------------------------------------------

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

    def own_files(self) -> dict[Path, str]:
        """Every file of this store (path -> what it is), present or not: what no output of
        a command may ever replace (:func:`biodiv.files.refuse_protected_output`)."""
        files = {self.path: "the biodiv database", Path(f"{self.path}.wal"): "the database's log",
                 self.wip_path: "the store's working copy", Path(f"{self.wip_path}.wal"): "the working copy's log",
                 self.wip_path.with_name(self.wip_path.name + ".tmp"): "the store's working copy",
                 self.lock_path: "the store's lock"}
        if self.lake is not None:
            catalog = self.lake.spec.catalog_file
            if catalog is not None:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    files[Path(f"{catalog}{suffix}")] = "the DuckLake catalog"
            if self.lake.locator is not None:
                files[self.lake.locator] = "the DuckLake locator"
        return files

    def own_folders(self) -> dict[Path, str]:
        """The local folder of a DuckLake's data files (none for a single file)."""
        data = self.lake.spec.local_data_dir() if self.lake is not None else None
        return {data: "the DuckLake's data folder"} if data is not None else {}

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
        try:
            refuse_foreign(con, self.path)
        except NotBiodiv:
            con.close()
            raise
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
                refuse_foreign(con, self.path)
            except NotBiodiv:
                con.close()   # the copy made of another program's file goes: nothing is left
                self.wip_path.unlink(missing_ok=True)
                Path(f"{self.wip_path}.wal").unlink(missing_ok=True)
                raise
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
            detail = next((first_line(e) for e in causes(exc) if isinstance(e, duckdb.Error)), "")
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
        lake_backend.attach_lake(store.lake.spec, read_only=True, con=con, name=name)
        return
    quoted = str(path).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS {name} (READ_ONLY)")


