"""What the benchmark scripts share (run them as `python bench/<name>.py`)."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path


def shared_data() -> Path:
    """``$BIODIV_SHARED_DATA`` (default ../shared/data): the real public files, or exit."""
    env = os.environ.get("BIODIV_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = Path(env)
    if not (path / "admin" / "communes-34-herault.geojson").exists():
        sys.exit(f"real communes not found under {path}: set BIODIV_SHARED_DATA")
    return path


def median_time(fn, repeat: int) -> float:
    """Median wall time of ``repeat`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
