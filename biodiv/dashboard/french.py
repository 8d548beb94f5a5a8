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

Screen readers also read the names the front end gives its buttons and fields, in English:
"Collapse sidebar", "Clear all", "Remove Oiseaux", "Download as CSV", "Show data", "Link to
heading", "Période — start", the charts' "visualization" and "Title text"… A small script (``st.html`` with
``unsafe_allow_javascript``, a public option) rewrites these ``aria-label`` / ``title`` /
``placeholder`` / ``alt`` / ``aria-roledescription`` attributes in French as the front end
draws them (``ACCESSIBLE_NAMES``; a MutationObserver, installed once per page). The map's own
controls (Leaflet: zoom, layers, popup close) are named in French by ``maps``, the charts'
descriptions by ``charts``.

This CSS hides each English text (font size 0) and shows a French one in its place
(``::after``). It depends on the front end's markup — ``[role=listbox][data-empty=true]``,
``data-testid="InputInstructions"`` and ``data-testid="stSkipToContent"`` — which is why it
lives in this one module, pinned with the ``streamlit`` version in pyproject.toml, and is
checked in a real browser by ``tests/test_dashboard_browser.py`` (a Streamlit upgrade that
changes the markup or a name fails there, not silently in front of a room).
"""

from __future__ import annotations

import json

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


# Accessible names the front end writes in English -> French. Exact names, then
# prefixes and suffixes that frame a French label ("Remove Oiseaux" -> "Retirer Oiseaux").
ACCESSIBLE_NAMES = {
    "Collapse sidebar": "Replier le panneau des filtres",
    "Expand sidebar": "Déplier le panneau des filtres",
    "Sidebar": "Panneau des filtres",
    "App pages": "Pages",
    "Clear all": "Tout effacer",
    "Clear value": "Effacer",
    "Open": "Ouvrir la liste",
    "Close": "Fermer",
    "Selected values": "Valeurs choisies",
    "Choose an option": "Choisissez",
    "Choose options": "Choisissez",
    "Link to heading": "Lien vers ce titre",
    "Help": "Aide",
    "Download as CSV": "Télécharger en CSV",
    "Download as PNG": "Télécharger en PNG",
    "Download as SVG": "Télécharger en SVG",
    "Copy Vega-Lite spec": "Copier la définition du graphique",
    "Show data": "Voir les données",
    "Search": "Rechercher",
    "Show/hide columns": "Afficher ou masquer des colonnes",
    "Fullscreen": "Plein écran",
    "Close fullscreen": "Quitter le plein écran",
    "Vega visualization": "Graphique",
    "visualization": "graphique",
    "streamlit_folium.st_folium": "Carte interactive",
    "group mark container": "groupe de graphiques",     # Vega's roles inside a chart
    "rect mark container": "barres",
    "title": "titre",
}
NAME_PREFIXES = {"Remove ": "Retirer ", "Help for ": "Aide : ", "Fullscreen: ": "Plein écran : ",
                 "Title text ": "Titre "}
NAME_SUFFIXES = {" — start": " — début", " — end": " — fin"}
NAMED_ATTRIBUTES = ["aria-label", "title", "placeholder", "alt", "aria-roledescription"]

_NAMES_JS = """<script>(() => {
  const w = window.parent && window.parent.document ? window.parent : window;
  if (w.__biodivNames) return;
  w.__biodivNames = true;
  const doc = w.document, exact = %(exact)s, prefixes = %(prefixes)s, suffixes = %(suffixes)s,
        attrs = %(attrs)s, sel = attrs.map(a => '[' + a + ']').join(',');
  const fr = v => {
    if (exact[v]) return exact[v];
    for (const [en, f] of Object.entries(prefixes)) if (v.startsWith(en)) return f + v.slice(en.length);
    for (const [en, f] of Object.entries(suffixes)) if (v.endsWith(en)) return v.slice(0, -en.length) + f;
    return v;
  };
  const fix = el => { for (const a of attrs) { const v = el.getAttribute(a); if (v) { const t = fr(v); if (t !== v) el.setAttribute(a, t); } } };
  const scan = n => { if (n.nodeType !== 1) return; fix(n); n.querySelectorAll(sel).forEach(fix); };
  scan(doc.body);
  new w.MutationObserver(ms => { for (const m of ms) m.type === 'attributes' ? fix(m.target) : m.addedNodes.forEach(scan); })
    .observe(doc.body, {subtree: true, childList: true, attributes: true, attributeFilter: attrs});
})();</script>"""


def names_script() -> str:
    """The script that names the front end's buttons and fields in French (see the module doc)."""
    return _NAMES_JS % {"exact": json.dumps(ACCESSIBLE_NAMES, ensure_ascii=False),
                        "prefixes": json.dumps(NAME_PREFIXES, ensure_ascii=False),
                        "suffixes": json.dumps(NAME_SUFFIXES, ensure_ascii=False),
                        "attrs": json.dumps(NAMED_ATTRIBUTES)}


def css() -> str:
    rules = [f'{sel}::after{{content:"{text}";font-size:.9rem;margin-left:.3rem}}' for sel, text in LABELS.items()]
    for selector, text in REPLACEMENTS.items():
        rules.append(f"{selector}{{font-size:0 !important}}")
        rules.append(f'{selector}::after{{content:"{text}";font-size:.85rem}}')
    return "<style>" + "".join(rules) + "</style>"


def apply() -> None:
    """Add the replacements to the page (call once per run, before any widget)."""
    st.html(css() + names_script(), unsafe_allow_javascript=True)
