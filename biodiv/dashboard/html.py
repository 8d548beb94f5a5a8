"""Small static HTML tables with CSS bars, for the pages that must load fast.

Why: Streamlit's interactive table and chart components cost ~1.3 MB (table) and ~0.9 MB
(Vega charts) of JavaScript on first load and much CPU on a modest machine; the overview
and workshop screens only show a dozen rows, which plain HTML renders at no cost. Pages
that need sorting or download (species lists) keep ``st.dataframe``.
"""

from __future__ import annotations

import html
from typing import Sequence

import pandas as pd

from biodiv.dashboard.labels import MONTHS_FR, format_int

STYLE = """<style>
.bd-w{overflow-x:auto;max-width:100%}
.bd-t{border-collapse:collapse;width:100%;font-size:.95rem}
.bd-t th{text-align:left;font-weight:600;border-bottom:1px solid #ccc;padding:.25rem .4rem}
.bd-t td{padding:.2rem .4rem;border-bottom:1px solid #eee;vertical-align:middle}
.bd-b{display:flex;align-items:center;gap:.4rem}
.bd-b span{display:inline-block;height:.7rem;background:#2e7d32;border-radius:2px}
.bd-m{display:flex;align-items:flex-end;gap:1px;height:1.6rem}
.bd-m span{display:inline-block;width:.45rem;background:#78c679}
@media (max-width:640px){.bd-t{font-size:.8rem}.bd-t th,.bd-t td{padding:.15rem .2rem}
.bd-b{gap:.2rem}.bd-m span{width:.3rem}}
</style>"""


def _bar(value: float, top: float) -> str:
    width = 0 if not top else max(1.0, 100.0 * float(value) / float(top)) if value else 0
    return (f'<div class="bd-b"><span style="width:{width:.0f}%"></span>'
            f"<b>{format_int(value)}</b></div>")


def _months(values: Sequence[int]) -> str:
    top = max(values) if len(values) else 0
    cells = "".join(
        f'<span title="{MONTHS_FR[i]} : {format_int(v)}" style="height:{(100 * v / top) if top else 0:.0f}%"></span>'
        for i, v in enumerate(values)
    )
    return f'<div class="bd-m">{cells}</div>'


def bars_table(df: pd.DataFrame, label: str, label_title: str, columns: dict[str, str],
               months: str | None = None, months_title: str = "Par mois (janv. → déc.)") -> str:
    """HTML table: a label column, numeric columns drawn as bars, optional 12-month column."""
    head = [label_title, *columns.values()] + ([months_title] if months else [])
    tops = {c: (df[c].max() if len(df) else 0) for c in columns}
    rows = []
    for r in df.to_dict("records"):
        cells = [html.escape(str(r[label]))]
        cells += [_bar(r[c] or 0, tops[c]) for c in columns]
        if months:
            cells.append(_months([int(v) for v in r[months]]) if r.get(months) is not None else "")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (STYLE + '<div class="bd-w"><table class="bd-t"><thead><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def plain_table(df: pd.DataFrame, columns: dict[str, str], limit: int | None = None) -> str:
    """HTML table of ``columns`` (name -> title); dates as dd/mm/yyyy; at most ``limit`` rows."""
    shown = df.head(limit) if limit else df
    rows = []
    for r in shown.to_dict("records"):
        cells = []
        for c in columns:
            v = r[c]
            if hasattr(v, "strftime"):
                v = v.strftime("%d/%m/%Y")
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                v = format_int(v)
            cells.append(html.escape("" if v is None else str(v)))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (STYLE + '<div class="bd-w"><table class="bd-t"><thead><tr>'
            + "".join(f"<th>{html.escape(t)}</th>" for t in columns.values())
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")
