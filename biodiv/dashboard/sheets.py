"""Streamlit blocks shared by the sheet pages (fiche commune / site / espèce).

Why: a commune and a Natura 2000 site get the same sheet (any area type works), and the
species sheet reuses the month/year charts.
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from biodiv.dashboard import data, downloads, pacing, ui
from biodiv.dashboard.html import plain_table
from biodiv.dashboard.labels import AREA_TYPES_FR, format_int, plural

SPECIES_COLUMNS = {
    "common_name_fr": "Nom français", "sci_name": "Nom scientifique", "group": "Groupe",
    "observations": "Observations", "last_year": "Dernière année", "status": "Statut",
    "sensitivity": "Sensibilité (SINP)",
}


_BACKTICKS = re.compile(r"`+")


def as_text(value: object, limit: int = 80) -> str:
    """``value`` (from the address bar or a search box) for a Markdown message, shown as
    the characters typed and never as Markdown: no image, link, autolink or formatting.

    Why: ``st.warning``/``st.info`` render Markdown, so ``?commune=![x](http://host/c.png)``
    made every visitor's browser fetch the attacker's URL. The value goes in a code span,
    the one Markdown construct whose content is never interpreted (backslash escapes are
    not enough: Streamlit still turns an escaped ``http\\://…`` into a link); its fence is
    longer than any run of backticks in the value. Line breaks become spaces and a long
    value is cut."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[:limit] + "…"
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def species_csv(df: pd.DataFrame) -> bytes:
    """The species list as a CSV for spreadsheets used in France (``;``, UTF-8 with BOM)."""
    out = df[[c for c in SPECIES_COLUMNS if c in df.columns]].rename(columns=SPECIES_COLUMNS)
    return out.to_csv(index=False, sep=";").encode("utf-8-sig")


def months_chart(db: ui.Db, f: data.Filters) -> None:
    """Phenology: observations per month of the year, by group (all twelve months)."""
    from biodiv.dashboard.charts import phenology_chart

    st.altair_chart(phenology_chart(ui.q(db, data.phenology_by_group, f)), width="stretch")


def years_chart(db: ui.Db, f: data.Filters, measures: dict[str, str] | None = None) -> None:
    """Trends: observations, species and observers per year."""
    from biodiv.dashboard.charts import TREND_MEASURES, trend_chart

    st.altair_chart(trend_chart(ui.q(db, data.per_year, f), measures=measures or TREND_MEASURES),
                    width="stretch")


def _share(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "—"
    return f"{a / b * 100:.0f} %"


def comparison(ka: dict, kt: dict, area_km2: float | None, territory_km2: float | None) -> pd.DataFrame:
    """Key figures of an area beside the whole territory's (pure: used by tests too)."""
    def dens(k, km2):
        return k["observations"] / km2 if km2 else None

    rows = [
        ("Observations", ka["observations"], kt["observations"]),
        ("Espèces", ka["species"], kt["species"]),
        ("Observateurs", ka["observers"], kt["observers"]),
    ]
    out = [(label, format_int(a), format_int(t), _share(a, t)) for label, a, t in rows]
    ra, rt = ka["research_share"], kt["research_share"]
    out.append(("Part « recherche »", "—" if ra is None else f"{ra * 100:.0f} %",
                "—" if rt is None else f"{rt * 100:.0f} %", ""))
    da, dt = dens(ka, area_km2), dens(kt, territory_km2)

    def ratio(x: float | None) -> str:
        return "—" if x is None else (f"{x:.1f}" if x >= 1 or x == 0 else f"{x:.2f}").replace(".", ",")

    out.append(("Observations par km²", ratio(da), ratio(dt), ""))
    return pd.DataFrame(out, columns=["Indicateur", "Cette zone", "Territoire", "Part de la zone"])


def area_sheet(types: tuple[str, ...], title: str, choose: str, none_msg: str, kind: str) -> None:
    """The sheet of one area of ``types``; ``kind`` ("commune" / "site") names the address
    parameter holding its code (``?commune=34114``): opened on it, and kept in step with the
    selector so the address can be bookmarked or sent."""
    db = ui.open_db()
    ui.header(db, title)
    f = ui.current_filters()
    areas = ui.q(db, data.area_list, types)
    if areas.empty:
        st.info(none_msg)
        st.stop()
    names = {int(a): f"{n} ({c})" for a, n, c in zip(areas["area_id"], areas["name"], areas["code"])}
    by_code = {str(c): int(a) for a, c in zip(areas["area_id"], areas["code"])}
    key = f"sheet_{types[0]}"
    wanted = ui.subject(kind)
    if wanted is not None:
        if wanted in by_code:
            st.session_state[key] = by_code[wanted]
        else:
            st.warning(f"Le code « {as_text(wanted)} » ne correspond à aucune zone chargée : choisissez-en une ci-dessous.")
    if st.session_state.get(key) not in names:
        st.session_state[key] = next(iter(names))

    def follow() -> None:
        ui.show_subject(kind, areas.loc[areas["area_id"] == st.session_state[key], "code"].iloc[0])

    area_id = st.selectbox(choose, list(names), format_func=names.get, key=key, on_change=follow,
                           placeholder="Choisissez…")
    info = ui.q(db, data.area_info, area_id)
    ui.show_subject(kind, info["code"])
    km2 = info["area_km2"]
    st.header(info["name"] or info["code"])
    st.caption(f"{AREA_TYPES_FR.get(info['type'], info['type'])} · code {info['code']}"
               + (f" · {km2:.1f} km²".replace(".", ",") if km2 else "")
               + ("  \n" + ui.filters_summary(f) if ui.filters_summary(f) else ""))
    fa = f.with_(area=area_id)
    ka, kt = ui.figures(db, fa), ui.figures(db, f)
    communes = ui.q(db, data.area_list, "commune")
    territory_km2 = float(communes["area_km2"].sum()) if len(communes) else None
    ui.metrics([("Observations", format_int(ka["observations"]),
                 f"{format_int(kt['observations'])} sur tout le territoire"),
                ("Espèces", format_int(ka["species"]), f"{format_int(kt['species'])} sur tout le territoire"),
                ("Observateurs", format_int(ka["observers"]), None)])
    st.subheader("Comparaison avec le territoire")
    table = comparison(ka, kt, km2, territory_km2)
    # plain HTML, not st.dataframe: the data grid's code would load before the map (see pacing)
    st.markdown(plain_table(table, {c: c for c in table.columns}), unsafe_allow_html=True)

    left, right = st.columns([3, 2])
    with left:
        st.subheader("Carte")
        m, notes = ui.observation_map(db, f, "observations", area_id=area_id)
        ui.show_map(m, key=f"sheet_map_{types[0]}", height=460)
        ui.map_caption(notes)
        pacing.let_map_draw()                   # the charts and the species list wait for the map
    with right:
        months_chart(db, fa)
        years_chart(db, fa)

    st.subheader("Liste des espèces")
    species = ui.q(db, data.species_list, fa)
    st.write(f"{plural(len(species), 'espèce')} — cliquez sur un en-tête de colonne pour trier.")
    ui.species_table(species, key=f"species_{types[0]}")
    st.download_button("Télécharger la liste (CSV)", species_csv(species),
                       file_name=f"especes_{info['code']}.csv", mime="text/csv")
    downloads.sheet_buttons(db, kind if kind == "commune" else "site", str(info["code"]), f,
                            f"{kind}-{info['code']}")
