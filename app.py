"""Streamlit entry point: ``streamlit run app.py`` (or ``biodiv dashboard``).

Reads the database named by the configuration (``$BIODIV_DB`` / ``$BIODIV_CONFIG``)
read-only; see biodiv/dashboard/app.py.
"""

from biodiv.dashboard.app import main

main()
