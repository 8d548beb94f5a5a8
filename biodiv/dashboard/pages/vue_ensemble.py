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
    ui.bars(ui.q(db, data.per_group, f), "group", "Groupe",
            {"observations": "Observations", "species": "Espèces"})

st.subheader("Par année et par mois")
years = ui.q(db, data.per_year, f)
by_month = data.monthly_by_year(ui.q(db, data.per_month, f))
years = years.merge(by_month, on="year", how="left").assign(year=lambda d: d["year"].astype(str))
ui.bars(years, "year", "Année", {"observations": "Observations", "species": "Espèces"},
        extra={"months": st.column_config.BarChartColumn("Observations par mois (janv. → déc.)", y_min=0)})

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
