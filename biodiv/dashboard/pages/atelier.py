"""Mode atelier: a projection screen (very large figures, the map, the latest observations,
new species), refreshed by itself every ``dashboard.refresh_seconds``, no sidebar."""

from datetime import date, datetime

import streamlit as st

from biodiv.dashboard import data, ui
from biodiv.dashboard.labels import HIDDEN_OBSERVER_FR, format_int

st.markdown(
    "<style>[data-testid='stSidebar'],[data-testid='stSidebarCollapsedControl']{display:none}</style>",
    unsafe_allow_html=True,
)
cfg = ui.config()
refresh = max(5, int(cfg.dashboard.refresh_seconds))


@st.fragment(run_every=refresh)
def live() -> None:
    db = ui.open_db()
    info = ui.header(db, f"Biodiversité observée — {ui.q(db, data.db_info)['territory'] or 'territoire'}")
    year = date.today().year
    k = ui.figures(db)
    new = ui.q(db, data.new_species, year)
    ui.metrics([
        ("observations", format_int(k["observations"]), None),
        ("espèces", format_int(k["species"]), None),
        ("observateurs", format_int(k["observers"]), None),
        (f"nouvelles espèces en {year}", format_int(len(new)), None),
    ], big=True)
    left, right = st.columns([3, 2])
    with left:
        m, notes = ui.observation_map(db, data.NO_FILTERS, "observations", collapsed=True)
        ui.show_map(m, key="atelier_map", height=560)
    with right:
        st.subheader("Dernières observations")
        latest = ui.q(db, data.latest_observations, 6, with_photo=True)   # photos first
        if len(latest) < 3:
            latest = ui.q(db, data.latest_observations, 6)
        latest = data.mask_observers(latest, cfg.dashboard.public_mode)
        for row in latest.to_dict("records"):
            photo, text = st.columns([1, 3])
            if isinstance(row["photo_url"], str) and row["photo_url"]:
                photo.image(row["photo_url"], width=90)
            else:
                photo.markdown("<div style='width:90px;height:90px;background:#e8f5e9;color:#2e7d32;"
                               "display:flex;align-items:center;justify-content:center;font-size:.8rem'>"
                               "sans photo</div>", unsafe_allow_html=True)
            who = row["user_login"] or HIDDEN_OBSERVER_FR
            where = " · localisation floutée" if row["obscured"] else ""
            text.markdown(f"**{row['common_name_fr'] or row['sci_name']}**  \n*{row['sci_name']}*  \n"
                          f"{row['observed_on']:%d/%m/%Y} · {who}{where}")
        st.subheader(f"Nouvelles espèces en {year}")
        if new.empty:
            st.write("Aucune pour l'instant.")
        for row in new.head(8).to_dict("records"):
            st.markdown(f"- **{row['common_name_fr'] or row['sci_name']}** (*{row['sci_name']}*), "
                        f"vue le {row['first_seen']:%d/%m/%Y}")
    st.caption(f"Actualisation automatique toutes les {refresh} s · {ui.last_update_text(info)} · "
               f"affiché à {datetime.now():%H:%M:%S}")


live()
