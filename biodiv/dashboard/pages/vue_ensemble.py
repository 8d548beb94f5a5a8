"""Vue d'ensemble: key figures, the communes map (a click opens the commune's sheet),
observations per group, phenology and yearly trends (Vega-Lite charts), new species.

The map is sent first (this page is the first one opened); the charts follow it (see pacing)."""

from datetime import date

import streamlit as st

from biodiv.dashboard import data, pacing, ui
from biodiv.dashboard.html import bars_table, plain_table
from biodiv.dashboard.labels import plural
from biodiv.dashboard.sheets import months_chart, years_chart

db = ui.open_db()
info = ui.header(db, f"Vue d'ensemble — {ui.q(db, data.db_info)['territory'] or 'territoire'}")
f = ui.current_filters()
st.caption(ui.last_update_text(info) + ("  \n" + ui.filters_summary(f) if ui.filters_summary(f) else ""))
_, failed = ui.refresh_text(db)
if failed:
    st.error(failed, icon=":material/sync_problem:")     # a failed refresh is shown, not hidden

k = ui.figures(db, f)
ui.metrics(ui.key_figure_items(k))

left, right = st.columns([3, 2])
with left:
    st.subheader("Observations par commune")
    m, notes = ui.observation_map(db, f, "observations", points=False, collapsed=True)
    clicked = ui.show_map(m, key="overview_map", height=420, clicks=True)
    st.caption("Cliquez sur une commune ou un site pour ouvrir sa fiche.")
    pacing.let_map_draw()                                   # the charts wait for the map
    if clicked and clicked.get("kind") in ("commune", "site"):
        ui.open_sheet(clicked["kind"], clicked["code"])
with right:
    year = date.today().year
    groups, years, new = ui.overview_tables(db, f, year)   # after the map: it is sent first
    st.subheader("Par groupe taxonomique")
    st.markdown(bars_table(groups, "group", "Groupe",
                           {"observations": "Observations", "species": "Espèces"}),
                unsafe_allow_html=True)

c1, c2 = st.columns(2)
with c1:
    months_chart(db, f)
with c2:
    years_chart(db, f)

new_title, new_none, new_intro = ui.new_species_texts(f, year)
st.subheader(new_title)
if new.empty:
    st.write(new_none)
else:
    st.write(f"{plural(len(new), 'espèce observée', 'espèces observées')} pour la première fois sur le "
             f"territoire {new_intro}" + (" (les 50 plus récentes ci-dessous)." if len(new) > 50 else "."))
    st.markdown(plain_table(new, {"common_name_fr": "Nom français", "sci_name": "Nom scientifique",
                                  "group": "Groupe", "first_seen": "Première observation",
                                  "observations": "Observations"}, limit=50),
                unsafe_allow_html=True)
