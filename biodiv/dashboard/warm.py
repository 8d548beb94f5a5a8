"""Work done in the dashboard server's background so that a visitor does not wait for it:
the default views' queries computed as soon as the server starts or the database file is
replaced.

Why: after ``biodiv update`` publishes a new file, the first visitor used to pay for every
query of the page (~0.5 s at 100k observations, ~1.4 s at 1M) on top of Streamlit's
front-end start. Streamlit's ``st.cache_data`` is shared by all sessions and lets a second
caller of the same key wait for the first, so computing the unfiltered views here, through
the same ``ui`` functions the pages call, means the visitor finds them done (or nearly).
The readers need no DuckDB spatial (see ``spatial``), so a new file costs no extension load.
"""

from __future__ import annotations

import logging
import threading
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)


def default_views(db) -> None:
    """Compute what the Vue d'ensemble, Carte and Mode atelier pages show with no filter:
    the same calls, through ``ui``'s caches, as the pages make (see their code)."""
    from biodiv.dashboard import data, ui
    from biodiv.dashboard.labels import MEASURES_FR

    f = ui.base_filters()     # public as configured: the sensitivity layer's views (biodiv.sensitivity)
    ui.cursor(db).close()
    ui.q(db, data.db_info)
    ui.filter_options(db)
    ui.figures(db, f)
    ui.overview_tables(db, f, date.today().year)
    ui.observation_map(db, f, "observations", points=False, collapsed=True)   # Vue d'ensemble
    ui.observation_map(db, f, next(iter(MEASURES_FR)))                         # Carte
    ui.q(db, data.latest_observations, 40, ui.base_filters(public=True))       # Mode atelier (always public)


class Warmer:
    """Polls the database file's identity; computes the default views for each new one.

    A file whose warm-up fails (half-published, empty, a query error) is logged as a
    warning and kept in ``failed``, not in ``warmed``: it is not retried on every poll (the
    next published file has a new identity), and the page itself says what is wrong.
    """

    def __init__(self, path: Path, interval: float = 0.5) -> None:
        self.path = Path(path)
        self.interval = interval
        self.warmed: list = []   # identities whose default views are computed, oldest first
        self.failed: list = []   # identities whose warm-up raised, oldest first
        self._stop = threading.Event()

    def identity(self):
        from biodiv.dashboard.ui import Db

        try:
            st = self.path.stat()
        except OSError:
            return None
        return Db(str(self.path), st.st_ino, st.st_mtime_ns, st.st_size)

    def poll(self) -> bool:
        """Warm the current file if it was not tried yet; True when its views were computed."""
        db = self.identity()
        if db is None or db in self.warmed[-1:] or db in self.failed[-1:]:
            return False
        try:
            default_views(db)
        except Exception as exc:  # a half-published or empty file: the page will say so
            log.warning("warm-up of %s failed, its views are computed on the first visit: %s",
                        self.path, exc)
            self.failed.append(db)
            return False
        self.warmed.append(db)
        return True

    def run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def start(self) -> "Warmer":
        threading.Thread(target=self.run, name="biodiv-warmer", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
