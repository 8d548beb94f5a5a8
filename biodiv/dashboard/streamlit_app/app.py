"""The Streamlit script that ``biodiv dashboard`` serves (shipped in the package, so the
dashboard runs from any directory). Reads the database named by ``$BIODIV_DB`` /
``$BIODIV_CONFIG`` read-only; the pages are in biodiv/dashboard/app.py."""

from biodiv.dashboard.app import main

main()
