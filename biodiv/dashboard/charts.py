"""Charts people read: phenology (observations per month, by group) and trends (per year:
observations, species, observers), drawn by the Vega-Lite bundled with Streamlit (works
offline), with French titles, axes, units, month names and number format.

Why functions returning ``alt.Chart``: tests read the chart's specification (titles, data)
without a browser; the pages only call ``st.altair_chart``.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from biodiv.dashboard.labels import MONTHS_FR

# French number and date formats for Vega (d3-format / d3-time-format locale objects)
LOCALE = {
    "number": {"decimal": ",", "thousands": "\u202f", "grouping": [3], "currency": ["", "\u00a0€"]},
    "time": {
        "dateTime": "%A %e %B %Y à %X", "date": "%d/%m/%Y", "time": "%H:%M:%S",
        "periods": ["", ""],
        "days": ["dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"],
        "shortDays": ["dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."],
        "months": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                   "septembre", "octobre", "novembre", "décembre"],
        "shortMonths": MONTHS_FR,
    },
}

GROUP_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]
MAX_GROUPS = 7   # beyond: "Autres groupes"


def _french(chart: alt.TopLevelMixin, description: str, font_px: int = 13) -> alt.TopLevelMixin:
    """French locale and sizes; ``description`` is what a screen reader says of the chart.

    ``aria=False``: Vega would describe every axis, legend and bar in English ("X-axis
    titled 'Mois' for a discrete scale…"), with no locale for it; the French description
    says what the chart shows instead."""
    chart = chart.properties(description=description)
    return chart.configure(locale=LOCALE, aria=False).configure_axis(labelFontSize=font_px, titleFontSize=font_px) \
        .configure_legend(labelFontSize=font_px, titleFontSize=font_px) \
        .configure_title(fontSize=font_px + 3, anchor="start")


def phenology_chart(by_group: pd.DataFrame, title: str = "Observations par mois de l'année",
                    font_px: int = 13, height: int = 260) -> alt.TopLevelMixin:
    """Stacked bars: observations per calendar month (all 12 shown), one colour per group
    (the ``MAX_GROUPS`` most observed, the rest together). ``by_group``: month (1–12),
    group, observations (``data.phenology_by_group``)."""
    df = by_group.copy()
    top = df.groupby("group")["observations"].sum().sort_values(ascending=False)
    keep = list(top.index[:MAX_GROUPS])
    df["group"] = [g if g in keep else "Autres groupes" for g in df["group"]]
    df = df.groupby(["month", "group"], as_index=False)["observations"].sum()
    df["mois"] = [MONTHS_FR[int(m) - 1] for m in df["month"]]
    groups = keep + (["Autres groupes"] if "Autres groupes" in set(df["group"]) else [])
    chart = alt.Chart(df, title=title, height=height).mark_bar().encode(
        x=alt.X("mois:N", sort=MONTHS_FR, scale=alt.Scale(domain=MONTHS_FR), title="Mois",
                axis=alt.Axis(labelAngle=-40, labelOverlap=False)),
        y=alt.Y("sum(observations):Q", title="Nombre d'observations", axis=alt.Axis(format=",d", tickMinStep=1)),
        color=alt.Color("group:N", title="Groupe", sort=groups,
                        scale=alt.Scale(domain=groups, range=GROUP_COLOURS[:len(groups)])),
        order=alt.Order("group:N"),
        tooltip=[alt.Tooltip("mois:N", title="Mois"), alt.Tooltip("group:N", title="Groupe"),
                 alt.Tooltip("observations:Q", title="Observations", format=",d")],
    )
    return _french(chart, f"{title} : barres empilées, une par mois de janvier à décembre, "
                          "une couleur par groupe taxonomique", font_px)


TREND_MEASURES = {"observations": "Observations", "species": "Espèces", "observers": "Observateurs"}


def trend_chart(per_year: pd.DataFrame, title: str = "Évolution par année",
                measures: dict[str, str] = TREND_MEASURES, font_px: int = 13,
                height: int = 110) -> alt.TopLevelMixin:
    """One small bar chart per measure (observations, species, observers) per year, each
    with its own vertical scale. ``per_year``: year + the measure columns."""
    cols = [c for c in measures if c in per_year.columns]
    long = per_year.melt(id_vars=["year"], value_vars=cols, var_name="m", value_name="n")
    long["indicateur"] = [measures[m] for m in long["m"]]
    long["année"] = long["year"].astype(int).astype(str)
    chart = alt.Chart(long, height=height, width=alt.Step(34)).mark_bar(color="#2e7d32").encode(
        x=alt.X("année:O", title="Année", axis=alt.Axis(labelAngle=-40, labelOverlap=False)),
        y=alt.Y("n:Q", title="Nombre", axis=alt.Axis(format=",d", tickMinStep=1)),
        tooltip=[alt.Tooltip("année:O", title="Année"), alt.Tooltip("indicateur:N", title="Indicateur"),
                 alt.Tooltip("n:Q", title="Nombre", format=",d")],
    ).facet(
        row=alt.Row("indicateur:N", title=None, sort=[measures[c] for c in cols],
                    header=alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold")),
        title=title,
    ).resolve_scale(y="independent")
    names = ", ".join(measures[c].lower() for c in cols)
    return _french(chart, f"{title} : {names} par année, un graphique en barres pour chacun", font_px)
