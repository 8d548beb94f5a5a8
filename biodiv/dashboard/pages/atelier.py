"""Mode atelier: the projection screen of a workshop (1920×1080 read from 5 m). One screen,
no scrolling, no navigation bar, text of 28 px and more: big figures, the map with its
legend and commune names, the latest observations with their photos (cached locally by
``biodiv update``: see ``photos``), new species for the territory highlighted, a QR code
of the iNaturalist project or place, and when the data last came from iNaturalist.
Always public, whatever ``dashboard.public_mode`` says: no observer name, and sensitive species
only as their SINP level allows (biodiv.sensitivity.public), with the notice. Refreshed by
itself every ``dashboard.refresh_seconds``; the bioblitz option counts from a start time.
"""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import streamlit as st

from biodiv.dashboard import atelier, data, ui
from biodiv.dashboard.labels import format_int, plural, quality_text

st.html(atelier.STYLE)
cfg = ui.config()
refresh = max(5, int(cfg.dashboard.refresh_seconds))

with st.popover("Bioblitz", icon=":material/timer:"):
    on = st.toggle("Compter depuis une heure de début (aujourd'hui)", key="bioblitz_on")
    start = st.time_input("Heure de début", value=time(9, 0), key="bioblitz_start", step=900)


@st.fragment(run_every=refresh)
def live() -> None:
    db = ui.open_db()
    info = ui.q(db, data.db_info)
    territory = info["territory"] or "territoire"
    since = (datetime.combine(date.today(), start, ZoneInfo("Europe/Paris"))
             if st.session_state.get("bioblitz_on") else None)
    f = ui.base_filters(public=True).with_(since=since)   # the default quality grades, as everywhere
    ui.header(db, f"Biodiversité observée — {territory}", f, quality=False)   # said in the footer
    year = date.today().year
    k = ui.figures(db, f)
    new = ui.q(db, data.new_species, year, f)
    new_label = (f"nouvelles espèces depuis {since:%H:%M}" if since else f"nouvelles espèces en {year}")
    top, qr = st.columns([5, 1])
    with top:
        ui.metrics([
            (plural(k["observations"], "observation").split(" ", 1)[1], format_int(k["observations"]), None),
            (plural(k["species"], "espèce").split(" ", 1)[1], format_int(k["species"]), None),
            (plural(k["observers"], "observateur").split(" ", 1)[1], format_int(k["observers"]), None),
            (new_label if len(new) != 1 else new_label.replace("nouvelles espèces", "nouvelle espèce"),
             format_int(len(new)), None),
        ], big=True)
        if since:
            st.markdown(f'<div class="atl-note">Bioblitz : observations depuis aujourd\'hui {since:%H:%M}</div>',
                        unsafe_allow_html=True)
    with qr:
        st.markdown(atelier.qr_block(cfg), unsafe_allow_html=True)
    left, right = st.columns([3, 2])
    with left:
        m, notes = ui.observation_map(db, f, "observations", points=False, font_px=28, names_px=atelier.MAP_NAMES_PX,
                                      legend_inside=False)
        ui.show_map(m, key="atelier_map", height=atelier.MAP_HEIGHT)
    with right:
        latest = ui.q(db, data.latest_observations, 40, f)
        st.markdown(atelier.latest_block(latest, set(new["species_key"]), n=atelier.LATEST_ROWS), unsafe_allow_html=True)
        st.markdown(atelier.new_species_block(new, new_label), unsafe_allow_html=True)
        # the legend beside the map: never over the territory
        st.markdown(atelier.legend_block(notes["title"], notes["legend"], notes["outlines"]), unsafe_allow_html=True)
    ok, failed = ui.refresh_text(db, short=True)
    st.markdown(atelier.footer(ok, failed, refresh, datetime.now(ZoneInfo("Europe/Paris")),
                               quality_text(f.quality, short=True)),
                unsafe_allow_html=True)


live()
