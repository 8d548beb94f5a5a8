"""Streamlit pages (run by st.navigation from app.py; each file is a script)."""
