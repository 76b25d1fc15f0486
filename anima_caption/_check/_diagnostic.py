"""Diagnostics, fixes and edits (pydantic, frozen): what every rule reports."""

from __future__ import annotations

from enum import StrEnum

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

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int
    end: int
    content: str


class Fix(BaseModel):
    """One or more non-overlapping edits that resolve a diagnostic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    applicability: Applicability
    message: str
    edits: tuple[Edit, ...]


class Diagnostic(BaseModel):
    """One problem found in one file (or in the dataset, pointing at one file).

    ``line`` / ``column`` are 1-based, columns in code points; ``end_line`` / ``end_column``
    point just past the span. File-level and dataset findings use line 1, column 1 and
    ``span = None``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

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


def rule_url(code: str, slug: str) -> str:
    """Documentation link of a rule."""
    return DOCS_URL.format(anchor=f"{code.lower()}-{slug}")
