"""An import hook that keeps pandas out of a process for the span of a block.

biodiv's own writers (harvest, attach) never need pandas, but DuckDB's Python client
imports it as a side effect (see :func:`without_pandas`).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager


class _NoPandas:
    """Import hook: ``pandas`` is reported as not installed (see :func:`without_pandas`)."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (kept out by biodiv.pandas_guard)", name=name)
        return None


@contextmanager
def without_pandas():
    """Keep pandas out of the process while the block runs.

    Why: DuckDB 1.5's Python client imports pandas the first time any parameter is
    bound (even ``SELECT ?`` with an int; duckdb/duckdb#18658 loads it on purpose),
    only to recognise pandas values among the parameters, and pyarrow, when something
    loads it, likewise imports it to test whether a list is a pandas object. Neither
    needs it: both treat a missing pandas as "no pandas values here", and the harvest
    and the attach bind only Python scalars, lists and numpy arrays. pandas costs
    ~50 MB of resident memory (a sixth of the harvest's 300 MB budget) and ~0.4 s of
    import on the 2-core machine (a third of a 1M-observation attach run as its own
    command). Scoped, not global: the hook is removed on exit and both libraries try
    the import again on their next use, so a later ``.df()`` in the same process still
    works. Code that really uses pandas runs under :func:`pandas_allowed`. Nothing is
    blocked when pandas is already imported (there is nothing left to save).
    """
    if "pandas" in sys.modules:
        yield
        return
    hook = _NoPandas()
    sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        if hook in sys.meta_path:
            sys.meta_path.remove(hook)


@contextmanager
def pandas_allowed():
    """Lift :func:`without_pandas` for code that really uses pandas."""
    hooks = [h for h in sys.meta_path if isinstance(h, _NoPandas)]
    for hook in hooks:
        sys.meta_path.remove(hook)
    try:
        yield
    finally:
        sys.meta_path[:0] = hooks
