"""Sentence/tag boundary check of the parser on the real-caption corpus (issue 13).

``load_corpus()`` reads every ``<style>.yaml`` beside this file; ``boundary_errors(entry)``
parses the caption with :func:`anima_caption.parse` and lists the differences between the
parser's item sequence and the expected one. Run as a script for a per-style table::

    python tests/corpus_real/boundary.py
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CORPUS_DIR = Path(__file__).resolve().parent

#: Kinds an ``expect`` item may have.
EXPECT_KINDS = frozenset({"tag", "sentence", "phrase", "marker", "error"})

#: Parser item type -> comparison kind. A group (``[trigger]``, ``(a, b)``) or a wildcard
#: counts as one tag-level item with its raw text; phrases and sentences are both
#: natural language, so both compare as ``sentence``.
_PARSER_KIND = {
    "tag": "tag",
    "group": "tag",
    "wildcard": "tag",
    "sentence": "sentence",
    "marker": "marker",
    "error": "error",
}
_EXPECT_KIND = {
    "tag": "tag",
    "sentence": "sentence",
    "phrase": "sentence",
    "marker": "marker",
    "error": "error",
}


@dataclass(frozen=True)
class Item:
    """One expected item: its kind as written in the corpus and its raw text."""

    kind: str
    raw: str


@dataclass(frozen=True)
class Entry:
    """One corpus caption."""

    style: str
    source: str
    text: str
    expect: tuple[Item, ...]
    note: str | None = None


def _entry(style: str, raw: dict[str, Any]) -> Entry:
    items: list[Item] = []
    for spec in raw["expect"]:
        if not isinstance(spec, dict) or len(spec) != 1:
            raise ValueError(f"{style}: {raw.get('source')}: bad expect item {spec!r}")
        ((kind, value),) = spec.items()
        if kind not in EXPECT_KINDS or not isinstance(value, str):
            raise ValueError(f"{style}: {raw.get('source')}: bad expect item {spec!r}")
        items.append(Item(kind, value))
    note = raw.get("note")
    text = str(raw["text"])
    return Entry(style, str(raw["source"]), text, tuple(items), None if note is None else str(note))


def corpus_files(directory: Path = CORPUS_DIR) -> list[Path]:
    """The style files of the corpus, sorted by name."""
    return sorted(directory.glob("*.yaml"))


def load_corpus(directory: Path = CORPUS_DIR) -> list[Entry]:
    """Every caption of the corpus, style by style."""
    entries: list[Entry] = []
    for path in corpus_files(directory):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError(f"{path.name}: expected a list of entries")
        entries.extend(_entry(path.stem, raw) for raw in data)
    return entries


def expected_sequence(entry: Entry) -> list[tuple[str, str]]:
    """The expected (kind, raw) sequence, in comparison kinds."""
    return [(_EXPECT_KIND[item.kind], item.raw) for item in entry.expect]


def parsed_sequence(text: str) -> list[tuple[str, str]]:
    """The parser's (kind, raw) sequence for ``text``, in comparison kinds."""
    import anima_caption

    caption = anima_caption.parse(text)
    return [
        (_PARSER_KIND.get(str(item.type), str(item.type)), str(item.raw)) for item in caption.items
    ]


def _show(pair: tuple[str, str] | None) -> str:
    if pair is None:
        return "(nothing)"
    kind, raw = pair
    return f"{kind} {raw[:60]!r}{'…' if len(raw) > 60 else ''}"


def boundary_errors(entry: Entry) -> list[str]:
    """Differences between the parser's items and the expected ones; empty when they agree.

    The first difference is reported with its position, then the item counts when they differ.
    """
    want = expected_sequence(entry)
    got = parsed_sequence(entry.text)
    if want == got:
        return []
    errors: list[str] = []
    for index in range(max(len(want), len(got))):
        w = want[index] if index < len(want) else None
        g = got[index] if index < len(got) else None
        if w != g:
            errors.append(f"item {index}: expected {_show(w)}, parser gave {_show(g)}")
            break
    if len(want) != len(got):
        errors.append(f"expected {len(want)} items, parser gave {len(got)}")
    return errors


@dataclass
class StyleReport:
    """Boundary errors of one style."""

    style: str
    captions: int = 0
    with_errors: int = 0
    examples: list[str] | None = None


def report(entries: Iterable[Entry], examples: int = 3) -> list[StyleReport]:
    """Per-style counts of captions and of captions with boundary errors."""
    reports: dict[str, StyleReport] = {}
    for entry in entries:
        rep = reports.setdefault(entry.style, StyleReport(entry.style, examples=[]))
        rep.captions += 1
        errors = boundary_errors(entry)
        if errors:
            rep.with_errors += 1
            assert rep.examples is not None
            if len(rep.examples) < examples:
                rep.examples.append(f"{entry.source}: {errors[0]}")
    return sorted(reports.values(), key=lambda r: r.style)


def format_report(reports: Sequence[StyleReport]) -> str:
    """The table printed by ``__main__``."""
    lines = [f"{'style':<12} {'captions':>8} {'boundary errors':>16}"]
    lines.extend(f"{rep.style:<12} {rep.captions:>8} {rep.with_errors:>16}" for rep in reports)
    total = sum(r.captions for r in reports)
    bad = sum(r.with_errors for r in reports)
    lines.append(f"{'total':<12} {total:>8} {bad:>16}")
    for rep in reports:
        if rep.examples:
            lines.append("")
            lines.append(f"{rep.style}: first mismatches")
            lines.extend(f"  {line}" for line in rep.examples)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the per-style boundary table; exit 0 whatever the counts."""
    args = list(sys.argv[1:] if argv is None else argv)
    examples = int(args[0]) if args else 3
    print(format_report(report(load_corpus(), examples)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
