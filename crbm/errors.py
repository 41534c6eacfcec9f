"""The package's exception types.

Every error a user can cause by passing bad input is one of these, with a one-line message that names
the file (or argument), the place (line, column, channel) and what was expected.
"""

from __future__ import annotations


class CRBMError(ValueError):
    """Base class of the package's errors; a ValueError, so ``except ValueError`` catches it too."""


class FormatError(CRBMError):
    """A file is malformed: raised with ``path``, an optional ``line`` (1-based) and what was expected."""

    def __init__(self, path, message: str, *, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class DivergenceError(CRBMError):
    """Training produced a NaN/Inf or exploding figure; the message says what to change."""
