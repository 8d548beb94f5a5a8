"""French for the few English strings Streamlit's front end prints and offers no option for.

Why a private detail, and why here: Streamlit 1.67 has no locale setting. The public options
already remove most English (``select_all=False`` on multiselects, a slider instead of the
English calendar of ``st.date_input``, French placeholders); three strings remain, written
into the page by the front end:

* "No results" in an open multiselect / selectbox list when nothing matches what is typed;
* "Press Enter to apply" under a text input while typing;
* "Skip to main content", the accessibility link read by screen readers;

and, on a phone, the button that unfolds the filters is an icon alone: a French label
"Filtres" is added to it.

This CSS hides each English text (font size 0) and shows a French one in its place
(``::after``). It depends on the front end's markup — ``[role=listbox][data-empty=true]``,
``data-testid="InputInstructions"`` and ``data-testid="stSkipToContent"`` — which is why it
lives in this one module, pinned with the ``streamlit`` version in pyproject.toml, and is
checked in a real browser by ``tests/test_dashboard_browser.py`` (a Streamlit upgrade that
changes the markup fails there, not silently in front of a room).
"""

from __future__ import annotations

import streamlit as st

# English text's element -> French text shown instead
REPLACEMENTS = {
    '[role="listbox"][data-empty="true"] [role="option"] > span': "Aucun résultat",
    '[data-testid="InputInstructions"]': "Appuyez sur Entrée pour valider",
    '[data-testid="stSkipToContent"]': "Aller au contenu principal",
}


# On a phone the sidebar is folded behind an icon-only button: say what it opens.
LABELS = {
    '[data-testid="stSidebarCollapsedControl"] button': "Filtres",
    '[data-testid="stExpandSidebarButton"]': "Filtres",
}


def css() -> str:
    rules = [f'{sel}::after{{content:"{text}";font-size:.9rem;margin-left:.3rem}}' for sel, text in LABELS.items()]
    for selector, text in REPLACEMENTS.items():
        rules.append(f"{selector}{{font-size:0 !important}}")
        rules.append(f'{selector}::after{{content:"{text}";font-size:.85rem}}')
    return "<style>" + "".join(rules) + "</style>"


def apply() -> None:
    """Add the replacements to the page (call once per run, before any widget)."""
    st.html(css())
