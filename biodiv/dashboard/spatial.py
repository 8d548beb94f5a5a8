"""The dashboard process's one DuckDB instance with the spatial extension loaded, for the only
reads that need spatial functions: the simplified area outlines (``data.area_features``).

Why apart from the readers: ``LOAD spatial`` costs ~0.35 s of CPU for every new DuckDB
instance, and the dashboard reads each published file through its own instance
(``ui.open_reader``: DuckDB would otherwise keep serving a replaced file). Paying it once
per file put that CPU right where a visitor after ``biodiv update`` waits (the background
warm-up of the new file runs while the visitor's browser starts). Readers are now plain
instances (DuckDB 1.5 reads GEOMETRY columns without the extension); here spatial is loaded
once per process and each file identity is attached read-only under its own name (a path
replaced by an atomic rename can be attached again under a new name), the oldest detached
beyond ``KEEP``. Queries here are few (a handful per file, cached by the caller) and short,
so one lock serialises them: nothing is detached under a running query.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

import duckdb

KEEP = 2   # file identities kept attached (like ui's cached reader connections)

_lock = threading.Lock()
_con: duckdb.DuckDBPyConnection | None = None
_attached: OrderedDict[Hashable, str] = OrderedDict()   # file identity -> catalog name
_names = itertools.count(1)


def _instance() -> duckdb.DuckDBPyConnection:
    global _con
    if _con is None:
        from biodiv.store.database import connect

        _con = connect(None)
    return _con


def load() -> None:
    """Create the instance and load spatial now (the server does it before listening)."""
    with _lock:
        _instance()


def attached() -> list[Hashable]:
    """File identities currently attached, oldest first (tests)."""
    with _lock:
        return list(_attached)


def run(db: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(cursor, *args, **kwargs)`` on the file ``db.path`` (``db``: its identity, hashable),
    attached read-only on the spatial instance."""
    from biodiv.store.database import attach_store

    with _lock:
        con = _instance()
        name = _attached.get(db)
        if name is None:
            name = f"biodiv_{next(_names)}"
            attach_store(con, db.path, name)   # a DuckDB file or a DuckLake (biodiv.store)
            _attached[db] = name
            while len(_attached) > KEEP:
                _, old = _attached.popitem(last=False)
                con.execute(f"DETACH {old}")
        else:
            _attached.move_to_end(db)
        cur = con.cursor()
        try:
            cur.execute(f"USE {name}")
            return fn(cur, *args, **kwargs)
        finally:
            cur.close()
