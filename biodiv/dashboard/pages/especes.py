"""Espèces du territoire: every species observed (with the sidebar's filters), filterable
by group and by status (protected, threatened, patrimonial), with red-list categories as
IUCN codes and their French labels; a click opens the species' sheet; CSV and PDF."""

import streamlit as st

from biodiv.dashboard import data, ui
from biodiv.dashboard.labels import format_int, plural
from biodiv.dashboard.sheets import species_csv

db = ui.open_db()
ui.header(db, "Espèces du territoire")
f = ui.current_filters()
species = ui.q(db, data.territory_species, f)
if species.empty:
    st.info("Aucune espèce observée avec ces filtres.")
    st.stop()

left, right = st.columns([2, 3])
with left:
    groups = sorted({g for g in species["group"] if g})
    chosen = st.multiselect("Groupe", groups, key="sp_groups", placeholder="Tous les groupes")
with right:
    status = st.radio("Statut", ["Toutes", "Protégées", "Menacées (listes rouges CR, EN, VU)", "Patrimoniales"],
                      horizontal=True, key="sp_status")
shown = species
if chosen:
    shown = shown[shown["group"].isin(chosen)]
column = {"Protégées": "protected", "Menacées (listes rouges CR, EN, VU)": "threatened",
          "Patrimoniales": "patrimonial"}.get(status)
if column:
    shown = shown[shown[column]]
shown = shown.reset_index(drop=True)

ui.metrics([("Espèces", format_int(len(shown)), f"{format_int(len(species))} avec les filtres"),
            ("Protégées", format_int(int(shown["protected"].sum())), None),
            ("Menacées", format_int(int(shown["threatened"].sum())), None),
            ("Patrimoniales", format_int(int(shown["patrimonial"].sum())), None)])
st.caption("Patrimoniale : protégée en France, ou inscrite sur une liste rouge en catégorie RE, CR, EN, VU "
           "ou NT. Catégories UICN : CR en danger critique, EN en danger, VU vulnérable, NT quasi menacée, "
           "LC préoccupation mineure, DD données insuffisantes.")
st.write(f"{plural(len(shown), 'espèce')} avec ces filtres.")
ui.species_table(shown, key="territory_species")
st.download_button("Télécharger la liste (CSV)", species_csv(shown), file_name="especes_territoire.csv",
                   mime="text/csv")
