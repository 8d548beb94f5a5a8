"""``python -m biodiv.dashboard.serve [streamlit options]``: ``streamlit run app.py`` with the
dashboard's heavy modules imported before the server starts.

Why: Streamlit runs the app script only when the first visitor connects, so that visitor
used to wait ~2.5 s for Python imports (folium, pandas, DuckDB spatial) on top of
the page. Importing them here, before the server listens, moves that cost to start-up.
"""

from __future__ import annotations

import sys

from biodiv.dashboard.assets import PROJECT_DIR


def preload() -> None:
    """Import what every page needs and load DuckDB spatial once (installs it offline).

    Only modules that do not touch Streamlit: importing Streamlit components or caches
    before the server exists would register them outside its runtime."""
    import folium  # noqa: F401
    import pandas  # noqa: F401

    from biodiv.dashboard import data, maps  # noqa: F401
    from biodiv.store import connect

    connect(None).close()


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    preload()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(PROJECT_DIR / "app.py"), *args]
    cli.main()


if __name__ == "__main__":
    main()
