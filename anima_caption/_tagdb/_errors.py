"""Errors raised by the tag database (all are :class:`AnimaCaptionError`, exit code 1)."""

from __future__ import annotations

from anima_caption._errors import AnimaCaptionError


class TagDBError(AnimaCaptionError):
    """A tag database that cannot be opened, built or pulled."""


class TagDBFormatError(TagDBError):
    """A file that is not an anima-caption tag database, or one that is corrupted."""


class ImportFormatError(TagDBError, ValueError):
    """A malformed row in an imported file when ``--strict`` is on (``file:line: message``)."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")


class PullError(TagDBError):
    """Pulling from the Danbooru API failed (offline, HTTP errors after retries)."""
