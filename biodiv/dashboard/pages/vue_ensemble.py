"""Vue d'ensemble: key figures, a small map, series per year / month / group, new species."""

from datetime import date

import streamlit as st

from biodiv.dashboard import data, ui
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
    m, notes = ui.observation_map(db, f, "observations", points=False)
    ui.show_map(m, key="overview_map", height=420)
    ui.legend(notes["legend"], "Observations")
with right:
    st.subheader("Par groupe taxonomique")
    groups = ui.q(db, data.per_group, f)
    st.dataframe(
        groups[["group", "observations", "species"]].rename(
            columns={"group": "Groupe", "observations": "Observations", "species": "Espèces"}),
        hide_index=True, width="stretch",
    )

c1, c2 = st.columns(2)
with c1:
    st.subheader("Par année")
    years = ui.q(db, data.per_year, f)
    st.bar_chart(years.assign(year=years["year"].astype(str)).set_index("year")
                 .rename(columns={"observations": "Observations", "species": "Espèces"}), stack=False)
with c2:
    st.subheader("Par mois")
    months = ui.q(db, data.per_month, f)
    st.line_chart(months.set_index("month").rename(columns={"observations": "Observations",
                                                            "species": "Espèces"}))

year = date.today().year
st.subheader(f"Nouvelles espèces pour le territoire en {year}")
new = ui.q(db, data.new_species, year, f)
if new.empty:
    st.write(f"Aucune espèce observée pour la première fois en {year}.")
else:
    st.write(f"{format_int(len(new))} espèce(s) observée(s) pour la première fois sur le territoire en {year}.")
    st.dataframe(
        new[["common_name_fr", "sci_name", "group", "first_seen", "observations"]].rename(columns={
            "common_name_fr": "Nom français", "sci_name": "Nom scientifique", "group": "Groupe",
            "first_seen": "Première observation", "observations": "Observations"}),
        hide_index=True, width="stretch",
    )
