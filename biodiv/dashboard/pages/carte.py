"""Carte: communes coloured by a measure, Natura 2000 overlays, observations (points or grid)."""

import streamlit as st

from biodiv.dashboard import ui
from biodiv.dashboard.labels import MEASURES_FR

db = ui.open_db()
ui.header(db, "Carte des observations")
f = ui.current_filters()
if ui.filters_summary(f):
    st.caption(ui.filters_summary(f))
measure = st.radio("Colorer les communes selon", list(MEASURES_FR), format_func=MEASURES_FR.get,
                   horizontal=True, key="map_measure")
m, notes = ui.observation_map(db, f, measure)
ui.show_map(m, key="main_map", height=620)
ui.legend(notes["legend"], MEASURES_FR[measure])
if notes["mode"] == "grid":
    ui.legend(notes["grid_legend"], "Observations par maille")
ui.map_caption(notes)
