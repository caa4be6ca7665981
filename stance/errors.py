"""The one exception type the CLI turns into a clear message instead of a traceback."""


class StanceError(Exception):
    """A problem the user can fix: bad input, a missing file, a server that does not answer."""
