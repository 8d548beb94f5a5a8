"""The order in which a session's first page reaches the browser: the map before the rest.

Why: Streamlit's front end loads the code of each kind of element on demand (the data grid
of ``st.dataframe``: ~0.3 MB of JavaScript; Vega-Lite for the charts: ~0.3 MB; each widget's
own piece) and runs it on the same thread that then starts the map's frame
(streamlit-folium, Leaflet, the polygons). Elements sent right after the map delayed it:
on the Fiche commune the map was drawn 1.5–2 s after the Carte's, the same map, because
the data grid and Vega-Lite were loading in between (``bench/dashboard.py``, 4,000 and
100,000 observations, resource timings of the page).

So a page calls :func:`let_map_draw` right after its map, and the app calls it again before
the sidebar's filters: at a session's first run the first call waits ``DELAY_S`` (the
browser starts the map's frame alone), every later call returns at once. Later runs of the
session find that code loaded and the map, if any, on screen.
"""

from __future__ import annotations

import time

import streamlit as st

DELAY_S = 0.8
_DONE = "_map_first_paused"   # session-state flag: this session has paused once


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def let_map_draw() -> None:
    """Pause once per session (its first run), after what must be drawn first."""
    if st.session_state.get(_DONE):
        return
    st.session_state[_DONE] = True
    _pause(DELAY_S)
