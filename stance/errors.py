"""The one exception type the CLI turns into a clear message instead of a traceback."""

import re

_OPTION = re.compile(r"\{(\w+)\}")


class StanceError(Exception):
    """A problem the user can fix: bad input, a missing file, a server that does not answer.

    A message names the parameters it is about as ``{name}`` and gives their values as
    keywords (``...`` for the name alone), so that each reader sees them in their own
    terms: Python shows ``select='uncertain'``, and the command line, through
    :meth:`for_cli`, shows its flag ``--select uncertain``.
    """

    def __init__(self, message: str, **options) -> None:
        super().__init__(message)
        self.message, self.options = message, options

    def __str__(self) -> str:
        return self._render(_python_form)

    def __reduce__(self):  # keep the options when a worker process sends the error back
        return _rebuild, (type(self), self.message, self.options)

    def for_cli(self, flags: dict[str, str] | None = None) -> str:
        """The message with options as flags: ``--name`` unless ``flags`` maps the name to
        another (a keyword in the plural for a repeated flag: ``filters`` is ``--filter``)."""
        return self._render(lambda name, value: _flag_form((flags or {}).get(name, "--" + name.replace("_", "-")),
                                                           value))

    def _render(self, form) -> str:
        if not self.options:
            return self.message
        return _OPTION.sub(lambda m: form(m[1], self.options[m[1]]) if m[1] in self.options else m[0], self.message)


def _rebuild(cls, message: str, options: dict) -> StanceError:
    return cls(message, **options)


def _python_form(name: str, value) -> str:
    return name if value is ... else f"{name}={value!r}"


def _flag_form(flag: str, value) -> str:
    if value is ... or value is True:
        return flag
    if isinstance(value, (list, tuple)):
        return " ".join(f"{flag} {v}" for v in value)
    return f"{flag} {value}"
