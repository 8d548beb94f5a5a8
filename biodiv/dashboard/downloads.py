"""« Télécharger la fiche (PDF) » and « Télécharger la carte (PNG) » on every sheet, with the
page's current filters, and a print stylesheet for the browser's own print.

Why the printed sheet of :mod:`biodiv.report` rather than the browser's print of the page:
a Streamlit page printed to A4 puts the filter sidebar on page 1, pushes the map to page 2
and cuts wide tables; the report is laid out for paper. The document is made only when the
button is clicked (Streamlit's deferred download: ``data`` is a function), so a sheet's
page costs nothing more to show. It is public (the officer's documents leave the office):
:class:`biodiv.report.sheets.Options` with ``public=True``.
"""

from __future__ import annotations

import streamlit as st

from biodiv.dashboard import data, spatial
from biodiv.report import render
from biodiv.report.sheets import Options, build

# the browser's own print (Ctrl+P) of a page: the content, not the app's furniture
PRINT_CSS = """<style>@media print {
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header, [data-testid="stToolbar"],
  [data-testid="stDecoration"], [data-testid="stStatusWidget"], .stDownloadButton, .stButton { display: none !important; }
  .stMainBlockContainer, [data-testid="stMainBlockContainer"] { padding: 0 !important; max-width: 100% !important; }
  table { page-break-inside: auto; } tr { page-break-inside: avoid; }
}</style>"""


def _sheet_html(con, kind: str, code: str, options: Options) -> str:
    return render.sheet_html(con, kind, code, options)[0]


def _sheet_map(con, kind: str, code: str, options: Options) -> str:
    sheet = build(con, kind, code, options)
    return render.commune_map(con, sheet, 1600, 1200, title=sheet.title, font_px=28)


def sheet_buttons(db, kind: str, code: str, f: data.Filters, stem: str) -> None:
    """The two download buttons of a sheet (``kind``: commune, site, species; ``code``: its
    INSEE or site code, or the species key)."""
    options = Options.from_filters(f, public=True)

    def pdf() -> bytes:
        return render.to_pdf(spatial.run(db, _sheet_html, kind, code, options))

    def png() -> bytes:
        return render.svg_to_png(spatial.run(db, _sheet_map, kind, code, options))

    st.html(PRINT_CSS)
    left, right = st.columns(2)
    left.download_button("Télécharger la fiche (PDF)", pdf, file_name=f"fiche-{stem}.pdf",
                         mime="application/pdf", on_click="ignore", key=f"pdf_{kind}_{code}")
    right.download_button("Télécharger la carte (PNG)", png, file_name=f"carte-{stem}.png",
                          mime="image/png", on_click="ignore", key=f"png_{kind}_{code}")
