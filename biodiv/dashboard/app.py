"""The dashboard's frame: page setup, navigation, the demo banner and the shared filters.

Pages are files under ``biodiv/dashboard/pages`` (absolute paths, so the same pages serve
whichever entry script Streamlit runs: the packaged ``streamlit_app/app.py`` or a
checkout's ``app.py``), so each can be opened alone in tests.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from biodiv.dashboard import french, pacing, ui

PAGES_DIR = Path(__file__).resolve().parent / "pages"

# (file, French title, url path, icon)
PAGES = [
    ("vue_ensemble.py", "Vue d'ensemble", "vue-ensemble", ":material/dashboard:"),
    ("carte.py", "Carte", "carte", ":material/map:"),
    ("fiche_commune.py", "Fiche commune", "fiche-commune", ":material/location_city:"),
    ("fiche_site.py", "Fiche site Natura 2000", "fiche-site", ":material/forest:"),
    ("fiche_espece.py", "Fiche espèce", "fiche-espece", ":material/pets:"),
    ("especes.py", "Espèces du territoire", "especes", ":material/list:"),
    ("atelier.py", "Mode atelier", "atelier", ":material/co_present:"),
]


def main() -> None:
    st.set_page_config(page_title="biodiv — observations naturalistes", page_icon="🦋", layout="wide")
    french.apply()
    pages = [
        st.Page(str(PAGES_DIR / file), title=title, url_path=url, icon=icon, default=i == 0)
        for i, (file, title, url, icon) in enumerate(PAGES)
    ]
    ui.register_pages(pages)
    page = st.navigation(pages, position="top")
    if page.url_path not in ui.SHEET_PATHS and st.query_params:
        st.query_params.clear()       # a sheet's ?commune= kept by the back button means nothing here
    db = ui.open_db()
    sidebar = page.url_path != "atelier"
    if sidebar:
        ui.sidebar_filters(db, ui.SESSION_VALUES, page.url_path)  # the filters, as the widgets hold them
    try:
        page.run()
    finally:
        # drawn after the page, so the map is sent first (see ui._SessionValues), and at a
        # session's first run only once the map has had time to draw (see pacing)
        if sidebar:
            pacing.let_map_draw()
            ui.sidebar_filters(db, page=page.url_path)
