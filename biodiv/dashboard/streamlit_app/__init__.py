"""The folder Streamlit runs: ``app.py`` (the entry script) and ``.streamlit/config.toml``
(its settings, read as script-level configuration). A folder of its own because Streamlit
puts the script's folder first on ``sys.path``: ``biodiv/dashboard`` itself would let its
``html.py`` shadow the standard library's ``html``."""
