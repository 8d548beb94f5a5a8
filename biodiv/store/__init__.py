"""The shared store: the one DuckDB file every capability reads and writes.

:mod:`biodiv.store.database` opens it (spatial loaded offline, numbered migrations under
``migrations/``, the working copy published atomically); :mod:`biodiv.store.status` reports
on it; :mod:`biodiv.demo` builds the fictional demo file. The names below are the
public interface for analysts (``from biodiv.store import Store``)."""

from biodiv.store.database import (  # noqa: F401
    Store,
    StoreBusy,
    StoreError,
    StoreMissing,
    connect,
    cursor,
    spatial_extension_file,
    transaction,
)
