"""Streamlit entry point of a checkout: ``streamlit run app.py``. ``biodiv dashboard`` serves
the same pages from the script shipped in the package (biodiv/dashboard/streamlit_app/app.py).

Reads the database named by the configuration (``$BIODIV_DB`` / ``$BIODIV_CONFIG``)
read-only; see biodiv/dashboard/app.py.
"""

from biodiv.dashboard.app import main

main()
