"""Diagnostics, fixes and edits: what every rule reports.

Two forms of the same data. :class:`Diagnostic`, :class:`Fix` and :class:`Edit` are the
public, frozen pydantic models (``lint()``, ``CheckResult.diagnostics``, JSON). Inside a
``check`` run the engine keeps :class:`DiagnosticRecord`, :class:`FixRecord` and
:class:`EditRecord`: named tuples with the same field names, a tenth of the memory and
several times cheaper to build and to send between processes. A run over 100,000 files
can hold a few million diagnostics; the models are built only when asked for.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

DOCS_URL = "https://github.com/anima-caption/anima-caption/blob/main/docs/rules.md#{anchor}"


class Severity(StrEnum):
    """How serious a diagnostic is. Only ``error`` makes ``check`` exit 1."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Applicability(StrEnum):
    """How safe a fix is to apply without a human looking (ruff's model).

    ``safe``: the caption means the same to the trainer (whitespace, separators, BOM, exact
    duplicates). ``unsafe``: the training signal changes (aliases, reordering, adding ``@``);
    applied only with ``--unsafe-fixes``. ``display-only``: shown as a suggestion, never
    applied automatically.
    """

    SAFE = "safe"
    UNSAFE = "unsafe"
    DISPLAY_ONLY = "display-only"


class Edit(BaseModel):
    """Replace ``text[start:end]`` (code-point offsets) with ``content``."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    start: int
    end: int
    content: str


class Fix(BaseModel):
    """One or more non-overlapping edits that resolve a diagnostic."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    applicability: Applicability
    message: str
    edits: tuple[Edit, ...]


class Diagnostic(BaseModel):
    """One problem found in one file (or in the dataset, pointing at one file).

    ``line`` / ``column`` are 1-based, columns in code points; ``end_line`` / ``end_column``
    point just past the span. File-level and dataset findings use line 1, column 1 and
    ``span = None``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    code: str
    slug: str
    severity: Severity
    message: str
    path: str
    line: int = 1
    column: int = 1
    end_line: int = 1
    end_column: int = 1
    span: tuple[int, int] | None = None
    fix: Fix | None = None
    url: str = ""

    @property
    def name(self) -> str:
        """``CODE/slug``, e.g. ``TG005/unknown-tag``."""
        return f"{self.code}/{self.slug}"

    @property
    def fixable(self) -> bool:
        """True when the fix can be applied (safe, or unsafe with ``--unsafe-fixes``)."""
        return self.fix is not None and self.fix.applicability is not Applicability.DISPLAY_ONLY

    def sort_key(self) -> tuple[str, int, int, str]:
        """Stable output order: path, position, code."""
        return (self.path, self.line, self.column, self.code)

    @classmethod
    def from_record(cls, record: DiagnosticRecord) -> Diagnostic:
        """The model of an engine record (built without re-validating: the engine made it)."""
        from anima_caption._model import trusted

        fix = record.fix
        return trusted(
            cls,
            {
                "code": record.code,
                "slug": record.slug,
                "severity": record.severity,
                "message": record.message,
                "path": record.path,
                "line": record.line,
                "column": record.column,
                "end_line": record.end_line,
                "end_column": record.end_column,
                "span": record.span,
                "fix": None if fix is None else fix.model(),
                "url": record.url,
            },
        )

    def record(self) -> DiagnosticRecord:
        """The engine's compact form of this diagnostic."""
        fix = self.fix
        return DiagnosticRecord(
            self.path,
            self.line,
            self.column,
            self.code,
            self.slug,
            self.severity,
            self.message,
            self.end_line,
            self.end_column,
            self.span,
            None if fix is None else FixRecord.of(fix),
            self.url,
        )


class EditRecord(NamedTuple):
    """The engine's form of :class:`Edit`."""

    start: int
    end: int
    content: str

    def shifted(self, offset: int) -> EditRecord:
        """The same edit ``offset`` code points further on."""
        return EditRecord(self.start + offset, self.end + offset, self.content)


class FixRecord(NamedTuple):
    """The engine's form of :class:`Fix` (what rules return).

    The edits are kept as ``placed`` plus an ``offset`` added to every position: a tag
    spelling's fix is computed once per run and replayed wherever the spelling appears,
    so all its occurrences share one tuple of edits (a run over 100,000 SDXL-era files
    holds over a million fixes). Read :attr:`edits` for the actual positions; two records
    are equal when those are.
    """

    applicability: Applicability
    message: str
    placed: tuple[EditRecord, ...]
    offset: int = 0

    @property
    def edits(self) -> tuple[EditRecord, ...]:
        """The edits at their actual positions."""
        offset = self.offset
        if not offset:
            return self.placed
        return tuple(e.shifted(offset) for e in self.placed)

    def shifted(self, offset: int) -> FixRecord:
        """The same fix with every edit ``offset`` code points further on (sharing the
        edits)."""
        return FixRecord(self.applicability, self.message, self.placed, self.offset + offset)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FixRecord):
            return NotImplemented
        return (self.applicability, self.message, self.edits) == (
            other.applicability,
            other.message,
            other.edits,
        )

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((self.applicability, self.message, self.edits))

    def model(self) -> Fix:
        """The public model."""
        from anima_caption._model import trusted

        edits = tuple(
            trusted(Edit, {"start": e.start, "end": e.end, "content": e.content})
            for e in self.edits
        )
        return trusted(
            Fix, {"applicability": self.applicability, "message": self.message, "edits": edits}
        )

    @classmethod
    def of(cls, fix: Fix) -> FixRecord:
        """The record of a model."""
        return cls(
            fix.applicability,
            fix.message,
            tuple(EditRecord(e.start, e.end, e.content) for e in fix.edits),
        )


class DiagnosticRecord(NamedTuple):
    """The engine's form of :class:`Diagnostic`; the first four fields are the sort key."""

    path: str
    line: int
    column: int
    code: str
    slug: str
    severity: Severity
    message: str
    end_line: int = 1
    end_column: int = 1
    span: tuple[int, int] | None = None
    fix: FixRecord | None = None
    url: str = ""

    @property
    def name(self) -> str:
        """``CODE/slug``, e.g. ``TG005/unknown-tag``."""
        return f"{self.code}/{self.slug}"

    @property
    def fixable(self) -> bool:
        """True when the fix can be applied (safe, or unsafe with ``--unsafe-fixes``)."""
        return self.fix is not None and self.fix.applicability is not Applicability.DISPLAY_ONLY

    def sort_key(self) -> tuple[str, int, int, str]:
        """Stable output order: path, position, code."""
        return (self.path, self.line, self.column, self.code)


#: A diagnostic in either form (the output formats read both).
AnyDiagnostic = Diagnostic | DiagnosticRecord


def rule_url(code: str, slug: str) -> str:
    """Documentation link of a rule."""
    return DOCS_URL.format(anchor=f"{code.lower()}-{slug}")
