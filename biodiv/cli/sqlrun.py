"""``biodiv sql`` and ``biodiv query run`` as one bounded read: the query, its result and
its formatting all happen in a child process under the ``[sql]`` limits
(:mod:`biodiv.analysis.sandbox`); the parent only moves the finished output into place.

Why the formatting inside: a 100,000-row table took 55 s and 2.1 GB to print, after the
query's own time limit had passed. Why through a file: the child may be killed at any
moment; the output (``--out`` or stdout) appears only once it is complete, and an
``--out`` file is replaced whole (written beside it, then renamed).
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

from biodiv.analysis.readonly import Limits, QueryError, QueryTimeout

FORMATS = ("table", "csv", "json", "markdown")


def _memory_error(limits: Limits) -> QueryError:
    return QueryError(
        f"query stopped: it needed more memory than sql.memory_limit = {limits.memory_limit!r} allows "
        "(biodiv.toml); select fewer or shorter values, or add a LIMIT"
    )


def _timeout_error(limits: Limits) -> QueryTimeout:
    return QueryTimeout(f"query stopped after {limits.timeout_seconds:g} s (sql.timeout_seconds in biodiv.toml)")


def bounded_read(read: Callable[[Callable[[], None]], Any], limits: Limits, fmt: str, out: Optional[Path],
                 title: str | None, console) -> tuple[int, Optional[int]]:
    """Run ``read(arm)`` (returns a DataFrame; calls ``arm()`` once its reader is open, which
    caps the memory from there) and format its result as ``fmt`` into ``out`` or stdout, all
    within ``limits``; returns (rows, truncated_at or None)."""
    from biodiv.analysis.sandbox import cap_memory, run_bounded
    from biodiv.config import size_bytes

    if out is not None:
        if not out.parent.is_dir():
            raise QueryError(f"--out {out}: folder {out.parent} does not exist")
        part = out.with_name(f".{out.name}.part")
    else:
        fd, name = tempfile.mkstemp(prefix="biodiv-sql-", suffix=".out")
        os.close(fd)
        part = Path(name)
    width, terminal, colors = console.width, console.is_terminal, console.color_system

    def job() -> tuple[int, Optional[int]]:
        df = read(lambda: cap_memory(size_bytes(limits.memory_limit)))
        size = int(df.memory_usage(deep=True, index=False).sum())
        if limits.max_result_bytes and size > limits.max_result_bytes:
            raise QueryError(
                f"the result holds {size / 1e6:,.0f} MB, more than sql.max_result_size = "
                f"{limits.max_result_bytes / 1e6:,.0f} MB: select fewer columns or rows (or raise it in biodiv.toml)"
            )
        with open(part, "w", encoding="utf-8", newline="") as f:
            render(df, fmt, f, title, table=out is None, width=width, terminal=terminal, colors=colors)
        return len(df), df.attrs.get("truncated_at")

    def memory() -> QueryError:
        return _memory_error(limits)

    try:
        try:
            rows, truncated = run_bounded(job, seconds=limits.timeout_seconds,
                                          on_timeout=lambda: _timeout_error(limits), on_memory=memory)
        except QueryError as exc:
            if "Out of Memory" in str(exc) or "bad allocation" in str(exc):
                raise memory() from None
            raise
    except BaseException:
        part.unlink(missing_ok=True)
        _remove_child_temp()
        raise
    if out is not None:
        os.replace(part, out)
        console.print(f"{rows} row(s) written to {out}", highlight=False)
    else:
        try:
            _copy_to_stdout(part)
        finally:
            part.unlink(missing_ok=True)
    return rows, truncated


def _copy_to_stdout(path: Path) -> None:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    with open(path, "rb") as f:
        if buffer is not None:
            shutil.copyfileobj(f, buffer, 1 << 20)
            buffer.flush()
        else:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                sys.stdout.write(chunk.decode("utf-8"))
    sys.stdout.flush()


def _remove_child_temp() -> None:
    """A killed child leaves DuckDB's private temp folder (biodiv/analysis/readonly.py)."""
    from biodiv.analysis import sandbox

    pid = getattr(sandbox.last, "pid", None)
    if pid:
        for path in glob.glob(os.path.join(tempfile.gettempdir(), f"biodiv-sql-{pid}-*")):
            shutil.rmtree(path, ignore_errors=True)


def render(df, fmt: str, f, title: str | None, *, table: bool, width: int = 80,
           terminal: bool = False, colors: str | None = None) -> None:
    """Write ``df`` to the text file ``f`` as ``fmt``; ``table`` (stdout) draws a rich table
    for the format ``table`` at the terminal's ``width``, else ``table`` means CSV."""
    import pandas as pd

    if fmt == "table" and table:
        from rich.console import Console
        from rich.table import Table

        con = Console(file=f, width=width, force_terminal=terminal, color_system=colors if terminal else None,
                      soft_wrap=False)
        tab = Table(title=title, show_lines=False)
        for col in df.columns:
            tab.add_column(str(col), overflow="fold")
        for row in df.itertuples(index=False):
            tab.add_row(*("" if (v is None or (not isinstance(v, (list, tuple)) and pd.isna(v)))
                          else str(v) for v in row))
        con.print(tab)
        con.print(f"{len(df)} row(s)", style="dim")
        return
    if fmt == "json":
        text = df.to_json(orient="records", date_format="iso", force_ascii=False, indent=1)
    elif fmt == "markdown":
        text = markdown(df)
    else:  # csv (also for --format table with --out)
        text = df.to_csv(index=False)
    f.write(text if text.endswith("\n") else text + "\n")


def markdown(df) -> str:
    import pandas as pd

    def cell(v):
        if v is None or (not isinstance(v, (list, tuple)) and pd.isna(v)):
            return ""
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"
