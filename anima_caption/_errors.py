"""The library's exceptions. Lark exceptions never leave the package; these do."""

from __future__ import annotations


class AnimaCaptionError(Exception):
    """Base class of every error raised on purpose by anima-caption."""

    #: Process exit code the command-line interface uses for this error (docs/ci.md, "Exit codes").
    exit_code: int = 1


class UsageError(AnimaCaptionError):
    """Bad command-line usage or configuration (exit code 2)."""

    exit_code = 2


class CaptionSyntaxError(AnimaCaptionError, ValueError):
    """Text that is not a valid caption, raised by strict parsing.

    ``span`` is ``(start, end)`` in code points of the caption text; ``line`` and ``column``
    are 1-based. ``str()`` shows the message followed by the offending source line with a
    ``~~~^`` marker under the span.
    """

    def __init__(
        self, message: str, text: str, span: tuple[int, int], *, path: str | None = None
    ) -> None:
        self.message = message
        self.text = text
        self.span = span
        self.path = path
        self.line, self.column = line_column(text, span[0])
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.path}:" if self.path else ""
        head = f"{where}{self.line}:{self.column}: {self.message}"
        return f"{head}\n{caret_frame(self.text, self.span)}"


class CaptionDecodeError(AnimaCaptionError, ValueError):
    """A caption file that cannot be read as text (invalid UTF-8, binary, empty…)."""

    def __init__(self, path: str, message: str, *, offset: int | None = None) -> None:
        self.path = path
        self.message = message
        self.offset = offset
        where = f" (byte {offset})" if offset is not None else ""
        super().__init__(f"{path}: {message}{where}")


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column (in code points) of ``offset`` in ``text``.

    ``\\r\\n``, ``\\r`` and ``\\n`` each end a line.
    """
    offset = max(0, min(offset, len(text)))
    before = text[:offset]
    line = 1 + before.count("\n") + before.count("\r") - before.count("\r\n")
    last = max(before.rfind("\n"), before.rfind("\r"))
    return line, offset - last


def caret_frame(text: str, span: tuple[int, int]) -> str:
    """The source line holding ``span[0]`` with ``~~~^`` under the span (packaging style)."""
    start, end = span
    start = max(0, min(start, len(text)))
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    line_end = len(text)
    for stop in ("\n", "\r"):
        found = text.find(stop, start)
        if found != -1:
            line_end = min(line_end, found)
    line = text[line_start:line_end].replace("\t", " ")
    end = max(start + 1, min(end, line_end))
    marker = " " * (start - line_start) + "~" * (end - start - 1) + "^"
    return f"    {line}\n    {marker}"
