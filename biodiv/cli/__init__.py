"""The ``biodiv`` command: :mod:`biodiv.cli.root` builds the Typer app and maps errors to
exit codes; one module per capability registers its commands (``core``, ``areas``,
``harvest``, ``dashboard``, ``analysis``); :mod:`biodiv.cli.context` holds what they share."""

from biodiv.cli.root import _register, app, main  # noqa: F401  (the console script: biodiv.cli:main)
