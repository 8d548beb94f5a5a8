"""The Streamlit dashboard (French UI) over the read-only DuckDB file.

* ``data``: every SQL read, as plain functions ``(connection, filters) -> DataFrame``;
* ``maps``: folium map builders (pure); ``assets``: local Leaflet files (offline maps);
* ``labels``: French vocabulary; ``html``: light static tables;
* ``ui``, ``sheets``, ``app`` and ``pages/``: the Streamlit code;
* ``browser``: a real Streamlit server and headless Chromium (tests and bench).

Only ``ui``, ``sheets``, ``app`` and ``pages`` import Streamlit; the rest is tested
without a browser.
"""
