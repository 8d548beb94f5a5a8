"""A read of the SQL console run in a child process bounded as a whole: time and memory.

Why a child: DuckDB's ``memory_limit`` bounds its buffer manager, not every allocation,
and its interrupt only stops its own execution. With ``memory_limit = "1GB"``,
``SELECT length(repeat('x', 1000000000))`` peaked at 2.1 GB and ``repeat('xy', 2000000000)``
above 7 GB; with a 5 s limit a ``repeat`` stopped at 9.9 s, and formatting a 100,000-row
table (outside the limit) took 55 s and 2.1 GB. So the whole read (opening the store,
the query, the conversion to a table, the formatting of the output) runs in a forked
child whose data segment is capped once its reader is open (``RLIMIT_DATA``: what it has
then, plus the memory limit, plus :data:`MARGIN`): an allocation past it fails inside DuckDB or Python
and comes back as one line. The parent waits at most the time limit (plus
:data:`GRACE`, so the child's own interrupt can report first), then kills the child.
Why ``RLIMIT_DATA`` rather than ``RLIMIT_AS``: an idle process with DuckDB and spatial
loaded already reserves 1.2 GB of address space (thread stacks, mapped libraries) but
writes 0.1 GB of data; the data limit follows what the process really uses.

Why fork rather than a new interpreter: the child inherits the loaded modules (a fresh
``python -m biodiv`` pays 1–2 s of imports) and the parsed command; it only opens the
store. Results come back through a file (the formatted output) and a pipe (a small
pickled outcome: row counts, or the one-line error).
"""

from __future__ import annotations

import os
import pickle
import resource
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable

from biodiv.errors import BiodivError

MARGIN = 256 * 2**20     # bytes of data the child may use beyond the memory limit (Python, pandas)
GRACE = 0.5              # seconds the parent waits past the time limit before it kills the child
_POLL = 0.01


@dataclass
class Finished:
    """How the last bounded child ended (for benchmarks and tests): its peak resident memory
    as the kernel measured it (``wait4``), its wall time, and whether it was killed."""

    peak_rss_bytes: int = 0
    seconds: float = 0.0
    killed: str | None = None
    pid: int = 0


last = Finished()


def _data_now() -> int:
    """This process's data segment in bytes (``VmData``), what ``RLIMIT_DATA`` counts."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def cap_memory(extra_bytes: int | None) -> None:
    """Cap this process's data segment at what it holds now plus ``extra_bytes`` plus
    :data:`MARGIN` (``RLIMIT_DATA``). Called by a child's job once its reader is open: DuckDB's
    instance and the spatial extension take their share first, the limit is for the read."""
    if extra_bytes:
        cap = _data_now() + extra_bytes + MARGIN
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))


def _child(job: Callable[[], Any], w: int) -> None:
    """Run ``job`` in the child and leave with ``os._exit``: never back into the caller."""
    code = 0
    try:
        # what the C++ runtime prints when an allocation fails past the cap ("terminate
        # called…") would add lines to the one-line error: the child reports through ``w``
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        payload: tuple = ("ok", job())
    except MemoryError:
        payload, code = ("memory", None), 3
    except BiodivError as exc:
        payload, code = ("error", (type(exc), str(exc))), 1
    except BaseException as exc:  # noqa: BLE001 - the child must report, never unwind
        text = str(exc).strip().splitlines()
        payload, code = ("error", (BiodivError, f"{type(exc).__name__}: {text[0] if text else ''}")), 1
    try:
        data = pickle.dumps(payload)
    except Exception:  # an unpicklable exception type: its text is enough
        data = pickle.dumps(("error", (BiodivError, str(payload[1]))))
        code = 1
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
    finally:
        os._exit(code)


def run_bounded(job: Callable[[], Any], *, seconds: float | None,
                on_timeout: Callable[[], BiodivError], on_memory: Callable[[], BiodivError]) -> Any:
    """``job()`` run in a forked child: its return value (picklable), or the one-line error
    it raised; ``on_timeout()`` / ``on_memory()`` when the child overran ``seconds`` (killed)
    or its memory cap (:func:`cap_memory`, which the job calls: an allocation failed, or it
    died of a signal)."""
    global last
    r, w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(r)
        _child(job, w)
    os.close(w)
    chunks: list[bytes] = []
    os.set_blocking(r, False)
    deadline = start + seconds + GRACE if seconds else None
    killed = None
    status = rusage = None
    try:
        while True:
            _drain(r, chunks)
            done, status, rusage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if deadline is not None and time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                killed = "timeout"
                _, status, rusage = os.wait4(pid, 0)
                break
            time.sleep(_POLL)
        _drain(r, chunks)
    except BaseException:
        try:   # Ctrl+C or any failure here: never leave the child running
            os.kill(pid, signal.SIGKILL)
            os.wait4(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass
        raise
    finally:
        os.close(r)
    last = Finished(rusage.ru_maxrss * 1024 if rusage else 0, time.monotonic() - start, killed, pid)
    if killed == "timeout":
        raise on_timeout()
    try:
        kind, value = pickle.loads(b"".join(chunks))
    except Exception:   # died before it could report: a signal (the kernel's OOM killer, a crash)
        last.killed = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "no report"
        raise on_memory() from None
    if kind == "ok":
        return value
    if kind == "memory":
        raise on_memory()
    exc_type, text = value
    raise exc_type(text)


def _drain(fd: int, chunks: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            return
        chunks.append(data)
