"""The harvest progress bar (rich): pages, observations, requests per minute, ETA.

Kept apart from the orchestration so that ``harvest(progress=False)`` (tests, the
dashboard, cron) prints nothing and pays nothing for display.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class HarvestProgress(AbstractContextManager):
    def __init__(self, enabled: bool, requests_per_minute: Callable[[], float]):
        self.enabled = enabled
        self._rpm = requests_per_minute
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._pages = 0

    def __enter__(self):
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[pages]} pages"),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} obs"),
                TextColumn("{task.fields[rpm]:.0f} req/min"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False

    def start(self, label: str, total: int) -> None:
        """A new pass (observations, reconciliation) of about ``total`` records."""
        self._pages = 0
        if self._progress is not None:
            self._task = self._progress.add_task(label, total=max(total, 1), pages=0, rpm=self._rpm())

    def page(self, records: int, total: int | None = None) -> None:
        self._pages += 1
        if self._progress is not None and self._task is not None:
            kwargs = {"total": total} if total is not None else {}
            self._progress.update(self._task, advance=records, pages=self._pages, rpm=self._rpm(), **kwargs)

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text)
