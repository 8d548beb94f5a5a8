"""The exception users see as a one-line message (the CLI prints it and exits non-zero)."""


class BiodivError(Exception):
    """Bad input or an unusable resource, explained in one line."""
