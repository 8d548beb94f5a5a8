"""Carte: one thematic layer at a time (communes coloured by a measure, or the national
Lambert-93 grid), Natura 2000 outlines, commune names; a click on a commune or a site opens
its sheet, a click on a grid cell lists its species and observations below the map."""

import streamlit as st

from biodiv.dashboard import data, effort, grid, pacing, ui
from biodiv.dashboard.labels import LAYERS_FR, plural

db = ui.open_db()
ui.header(db, "Carte des observations")
f = ui.current_filters()
if ui.filters_summary(f):
    st.caption(ui.filters_summary(f))
layer = st.radio("Couche affichée", list(LAYERS_FR), format_func=LAYERS_FR.get, horizontal=True,
                 key="map_layer")
m, notes = ui.observation_map(db, f, layer.removeprefix("communes:"))
clicked = ui.show_map(m, key=f"main_map_{layer}", height=620, clicks=True)
ui.map_caption(notes)
st.caption("Cliquez sur une commune ou un site Natura 2000 pour ouvrir sa fiche.")
pacing.let_map_draw()                   # a cell's tables and the survey-effort lists wait for the map

if clicked and clicked.get("kind") in ("commune", "site"):
    ui.open_sheet(clicked["kind"], clicked["code"])
cell = grid.parse_code(str(clicked.get("code", ""))) if clicked and clicked.get("kind") == "cell" else None
if cell:
    size, ix, iy = cell
    st.subheader(f"Maille {clicked['code']}")
    species = ui.q(db, data.cell_species, f, size, ix, iy)
    obs = ui.q(db, data.cell_observations, f, size, ix, iy)
    counts = ui.q(db, data.grid_counts, f, size)
    n_obs = int(counts.loc[counts["code"] == clicked["code"], "observations"].sum())
    st.write(f"{plural(len(species), 'espèce')} · {plural(n_obs, 'observation')}")
    ui.species_table(species, key="cell_species")
    st.markdown("**Dernières observations de la maille**")
    ui.observations_table(obs, key="cell_obs")

if layer in ("communes:effort", "grid:10000", "grid:1000"):
    st.subheader("Où aller observer ? Les lieux les moins prospectés")
    st.markdown(effort.NOTE_FR)
    if layer == "communes:effort":
        communes = ui.q(db, data.area_list, "commune")
        table = effort.under_surveyed_communes(ui.q(db, data.area_measures, f, "commune"),
                                               ui.q(db, data.effort_totals, f),
                                               float(communes["area_km2"].sum()) if len(communes) else None)
        st.dataframe(table, hide_index=True, width="stretch")
    else:
        size = int(layer.split(":")[1])
        cells = ui.territory_cells(db, size)
        table, empty, total = effort.under_surveyed_cells(cells, ui.q(db, data.grid_counts, f, size), size)
        st.write(f"{plural(empty, 'maille')} sur {total} sans aucune observation localisée à {size // 1000} km près.")
        st.dataframe(table, hide_index=True, width="stretch")
