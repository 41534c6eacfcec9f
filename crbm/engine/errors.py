"""The package's exception types.

Every error a user can cause by passing bad input is one of these, with a one-line message that names
the file (or argument), the place (line, column, channel) and what was expected.
"""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` with every line break (and the blanks around it) replaced by one space: messages quoted from
    other libraries (pyarrow, torch) often span several lines."""
    return " ".join(part for part in (line.strip() for line in text.splitlines()) if part)


class CRBMError(ValueError):
    """Base class of the package's errors; a ValueError, so ``except ValueError`` catches it too. A message
    is always one line (line breaks in quoted text become spaces)."""

    def __init__(self, *args):
        if len(args) == 1 and isinstance(args[0], str):
            args = (one_line(args[0]),)
        super().__init__(*args)


class FormatError(CRBMError):
    """A file is malformed: raised with ``path``, an optional ``line`` (1-based) and what was expected."""

    def __init__(self, path, message: str, *, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class DivergenceError(CRBMError):
    """Training produced a NaN/Inf or exploding figure; the message says what to change."""
