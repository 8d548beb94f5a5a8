"""Vue d'ensemble: key figures, a small map, observations per group / year / month, new species.

Tables here are static HTML (see dashboard/html.py): this page is the first one opened and
must load fast."""

from datetime import date

import streamlit as st

from biodiv.dashboard import data, ui
from biodiv.dashboard.html import bars_table, plain_table
from biodiv.dashboard.labels import format_int

db = ui.open_db()
info = ui.header(db, f"Vue d'ensemble — {ui.q(db, data.db_info)['territory'] or 'territoire'}")
f = ui.current_filters()
st.caption(ui.last_update_text(info) + ("  \n" + ui.filters_summary(f) if ui.filters_summary(f) else ""))

k = ui.figures(db, f)
ui.metrics(ui.key_figure_items(k))

left, right = st.columns([3, 2])
with left:
    st.subheader("Observations par commune")
    m, notes = ui.observation_map(db, f, "observations", points=False, collapsed=True)
    ui.show_map(m, key="overview_map", height=420)
    ui.legend(notes["legend"], "Observations")
with right:
    year = date.today().year
    groups, years, new = ui.overview_tables(db, f, year)   # after the map: it is sent first
    st.subheader("Par groupe taxonomique")
    st.markdown(bars_table(groups, "group", "Groupe",
                           {"observations": "Observations", "species": "Espèces"}),
                unsafe_allow_html=True)

st.subheader("Par année et par mois")
st.markdown(bars_table(years, "year", "Année", {"observations": "Observations", "species": "Espèces"},
                       months="months"), unsafe_allow_html=True)

st.subheader(f"Nouvelles espèces pour le territoire en {year}")
if new.empty:
    st.write(f"Aucune espèce observée pour la première fois en {year}.")
else:
    st.write(f"{format_int(len(new))} espèce(s) observée(s) pour la première fois sur le territoire en {year}"
             + (" (les 50 plus récentes ci-dessous)." if len(new) > 50 else "."))
    st.markdown(plain_table(new, {"common_name_fr": "Nom français", "sci_name": "Nom scientifique",
                                  "group": "Groupe", "first_seen": "Première observation",
                                  "observations": "Observations"}, limit=50),
                unsafe_allow_html=True)
