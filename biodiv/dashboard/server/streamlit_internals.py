"""Every detail of Streamlit that biodiv relies on beyond its documented API, in one place.

Why each one, and why on the server's start path (the public API cannot do these):

* :func:`static_dir`: the folder of Streamlit's front end (``index.html`` and its bundles),
  from ``streamlit.file_util.get_static_dir()``. The entry page middleware
  (:mod:`biodiv.dashboard.server.entry`) serves a changed copy of ``index.html`` and the
  gzip warm-up (:mod:`biodiv.dashboard.server.compress`) compresses the bundles; no public
  API names that folder.
* :func:`option_type`: the type Streamlit declares for a configuration option, from
  ``streamlit.config.get_config_options()`` (a function without underscore, but whose
  ``ConfigOption`` objects are not documented). ``st.App.run(config=...)`` takes typed
  values, and ``biodiv dashboard`` passes ``--server.port 8501``-style flags as text.

The version range these were checked on is pinned in ``pyproject.toml`` (``streamlit``);
``tests/test_dashboard_serve.py::test_streamlit_internals_still_hold`` fails on an upgrade
that moves or changes either of them.
"""

from __future__ import annotations

from pathlib import Path


def static_dir() -> Path:
    """The installed front end of Streamlit (holds ``index.html``)."""
    from streamlit import file_util

    return Path(file_util.get_static_dir())


def option_type(key: str) -> type | None:
    """The declared type of Streamlit option ``key`` (``server.port`` → ``int``), or None
    when Streamlit has no such option."""
    from streamlit import config

    option = config.get_config_options().get(key)
    return None if option is None else option.type
