"""Fiche espèce (``?taxon=<species key>``): photo, status, map, months, years, and the
communes and sites where the species was seen (each opens its sheet)."""

import streamlit as st

from biodiv.dashboard import data, downloads, pacing, ui
from biodiv.inat import photos
from biodiv.dashboard.labels import format_date, format_int
from biodiv.dashboard.sheets import as_text, months_chart, years_chart

db = ui.open_db()
ui.header(db, "Fiche espèce")
f = ui.current_filters()
opts = ui.q(db, data.species_options, f.public, f.sensitivity_default)
if opts.empty:
    st.info("Aucune espèce observée sur le territoire.")
    st.stop()
labels = dict(zip(opts["species_key"].astype(int), opts["label"]))
wanted = ui.subject("taxon")
if wanted is not None:
    if wanted.isdigit() and int(wanted) in labels:
        if st.session_state.get("species_sheet") != int(wanted):
            st.session_state["species_search"] = ""      # the search must not hide the species asked for
        st.session_state["species_sheet"] = int(wanted)
    else:
        st.warning(f"Le taxon « {as_text(wanted)} » n'a pas été observé sur le territoire : choisissez une espèce ci-dessous.")
search = st.text_input("Rechercher une espèce (nom français ou scientifique, accents facultatifs)",
                       key="species_search", placeholder="ex. : guepier, merops…")
found = data.search_species(opts, search)
if found.empty:
    st.warning(f"Aucune espèce ne correspond à « {as_text(search)} ».")
    st.stop()
keys = [int(k) for k in found["species_key"]]
if st.session_state.get("species_sheet") not in keys:
    st.session_state["species_sheet"] = f.species[0] if f.species and f.species[0] in keys else keys[0]


def _follow() -> None:
    ui.show_subject("taxon", st.session_state["species_sheet"])


key = st.selectbox("Espèce", keys, format_func=labels.get, key="species_sheet", on_change=_follow,
                   placeholder="Choisissez…")
ui.show_subject("taxon", key)
info = ui.q(db, data.species_info, key) or {}
fs = f.with_(species=(key,))
k = ui.figures(db, fs)

photo_col, text_col = st.columns([1, 3])
with photo_col:
    # the thumbnail cached by `biodiv update` (biodiv.inat.photos), never a request to the
    # internet from the page: a workshop room is often offline
    local = photos.cached(info.get("photo_url"))
    try:
        shown = local is not None and st.image(str(local), caption="Photo iNaturalist", width="stretch") is not None
    except Exception:   # a damaged cached file (PIL cannot read it): the sheet goes on without it
        shown = False
    if not shown:
        st.caption("Pas de photo disponible hors ligne.")
with text_col:
    st.header(info.get("common_name_fr") or info.get("sci_name") or str(key))
    inpn = (f" · [fiche INPN (TAXREF {info['cd_ref']})](https://inpn.mnhn.fr/espece/cd_nom/{info['cd_ref']})"
            if info.get("cd_ref") else "")          # TAXREF imported: the national reference's page
    st.markdown(f"*{info.get('sci_name', '')}* · {info.get('group', '')}{inpn}")
    st.markdown(f"**Statut** : {info.get('status') or 'aucun statut de protection ou de menace connu'}  \n"
                f"**Dernière observation** : {format_date(k['last_observed'])}")
    sensitivity = ui.q(db, data.species_sensitivity, key, f.sensitivity_default)
    if sensitivity:
        st.markdown("**Sensibilité (SINP)** : " + sensitivity
                    + (" — localisations floutées sur cette page publique" if f.public else ""))
    ui.metrics([
        ("Observations", format_int(k["observations"]), None),
        ("Observateurs", format_int(k["observers"]), None),
        ("Communes", f"{k['communes_covered']} / {k['communes_total']}", None),
    ])

m, notes = ui.observation_map(db, fs, "observations")
ui.show_map(m, key="species_map", height=460)
ui.map_caption(notes)
pacing.let_map_draw()                                       # the charts wait for the map

c1, c2 = st.columns(2)
with c1:
    months_chart(db, fs)
with c2:
    # one species: its number of species per year is always 1, not shown
    years_chart(db, fs, {"observations": "Observations", "observers": "Observateurs"})

st.subheader("Communes et sites où l'espèce a été vue")
ui.areas_table(ui.q(db, data.species_areas, fs), key="species_areas")
downloads.sheet_buttons(db, "species", str(key), f, f"espece-{key}")
