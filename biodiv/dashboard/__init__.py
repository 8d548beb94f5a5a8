"""The Streamlit dashboard: SQL reads (``data``), folium map builders (``maps``), local
Leaflet assets (``assets``) and the Streamlit pages (``pages``).

Only ``pages`` and ``ui`` import Streamlit; everything else is plain functions that take a
DuckDB connection or DataFrames, so they are tested without a browser.
"""
