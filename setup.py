"""What pyproject.toml cannot say: which files outside ``biodiv/`` ship inside the package.

The named queries are edited in the top-level ``queries/`` folder (a checkout reads them
there) and are installed as ``biodiv/analysis/named_queries/*.sql`` (an installed package
reads them there: :func:`biodiv.analysis.queries.queries_dir`). Everything else is in
pyproject.toml.
"""

from setuptools import find_packages, setup

NAMED_QUERIES = "biodiv.analysis.named_queries"

setup(
    packages=[*find_packages(include=["biodiv", "biodiv.*"]), NAMED_QUERIES],
    package_dir={NAMED_QUERIES: "queries"},
    package_data={
        "biodiv.store.migrations": ["*.sql"],
        # the folder Streamlit runs: its entry script is a module, its settings are data
        "biodiv.dashboard.streamlit_app": [".streamlit/config.toml"],
        NAMED_QUERIES: ["*.sql"],
        # the documents' templates and print stylesheet (biodiv/report/render.py)
        "biodiv.report": ["templates/*.html", "templates/*.css"],
        "biodiv.publish": ["templates/*.html", "templates/*.css", "templates/*.js"],
    },
)
