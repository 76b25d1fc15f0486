"""The engine's shortcuts give the same answers as doing everything afresh.

A checker remembers each tag spelling's findings (tag rules) and replays them wherever the
spelling appears again, and keeps diagnostics as compact records until someone asks for
the pydantic models. These tests compare a long-lived checker against a fresh checker per
caption, on captions that share tags at different positions, lines and separators.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anima_caption import lint
from anima_caption._check._config import CheckConfig
from anima_caption._check._configfile import LoadedConfig, RuleSelection
from anima_caption._check._context import CaptionContext
from anima_caption._check._diagnostic import Diagnostic, DiagnosticRecord
from anima_caption._check._engine import Checker
from anima_caption._io import decode_caption
from anima_caption._parse import parse
from anima_caption._tagdb import TagDB
from tests.strategies import realistic_caption

SHARED_TAGS = [
    "long_hair",
    "Long Hair",
    "twin tails",
    "left side ponytail",
    "bangs",
    "nnn yryr",
    "@smile",
    "ganyu \\(genshin impact\\)",
    "general",
    "high quality",
    "smile~",
    "^_^",
    "blue scrunchie",
    "scrunchie",
    "score_8_up",
]


@pytest.fixture(scope="module")
def db(real_tagdb_path: Path) -> TagDB:
    return TagDB.open(real_tagdb_path)


def _checker(db: TagDB | None, config: CheckConfig | None = None) -> Checker:
    config = config or CheckConfig()
    loaded = LoadedConfig(config=config, path=None, root=Path.cwd())
    return Checker(loaded, db, RuleSelection.from_config(config, None, None))


def _records(checker: Checker, text: str) -> list[DiagnosticRecord]:
    path = Path("caption.txt")
    ctx = CaptionContext(path=path, display="caption.txt", config=checker.config, db=checker.db)
    ctx.file = decode_caption(text.encode("utf-8"), path)
    ctx.caption = parse(text, lookup=checker.lookup, triggers=checker.config.triggers)
    return sorted(checker.check_caption(ctx), key=DiagnosticRecord.sort_key)


@st.composite
def captions_sharing_tags(draw: st.DrawFn) -> list[str]:
    """A few captions mixing a shared pool of problem tags with random ones."""
    out = []
    for _ in range(draw(st.integers(2, 5))):
        base = draw(realistic_caption())
        extra = draw(st.lists(st.sampled_from(SHARED_TAGS), max_size=6))
        sep = draw(st.sampled_from([", ", ",\n", " , "]))
        items = [*extra, base] if draw(st.booleans()) else [base, *extra]
        out.append(sep.join(items))
    return out


@settings(max_examples=60)
@given(captions_sharing_tags())
def test_remembered_tag_findings_equal_fresh_ones(db: TagDB, captions: list[str]) -> None:
    """Replaying a spelling's findings at another position (another line, inside a weight
    group, twice in one caption) gives exactly what a fresh checker finds there."""
    shared = _checker(db)
    for text in captions:
        assert _records(shared, text) == _records(_checker(db), text), text


@settings(max_examples=40)
@given(captions_sharing_tags())
def test_remembered_findings_without_database(captions: list[str]) -> None:
    shared = _checker(None)
    for text in captions:
        assert _records(shared, text) == _records(_checker(None), text), text


def test_replayed_fix_points_at_the_later_occurrence(db: TagDB) -> None:
    checker = _checker(db)
    first = _records(checker, "long_hair, smile")
    second = _records(checker, "safe, 1girl,\nsmile, long_hair")
    (a,) = [r for r in first if r.code == "TG001"]
    (b,) = [r for r in second if r.code == "TG001"]
    assert (a.line, a.column, a.span) == (1, 1, (0, 9))
    assert (b.line, b.column, b.span) == (2, 8, (20, 29))
    assert b.fix is not None
    assert [tuple(e) for e in b.fix.edits] == [(20, 29, "long hair")]


def test_records_and_models_carry_the_same_diagnostics(db: TagDB) -> None:
    text = "general, long_hair, Long Hair, left side ponytail, (smile:1.2)"
    models = lint(text, db=db)
    records = _records(_checker(db), text)
    assert [Diagnostic.from_record(r) for r in records] == models
    assert [m.record() for m in models] == records
    assert all(m == Diagnostic.model_validate(m.model_dump()) for m in models)


@settings(max_examples=300)
@given(st.text(alphabet="ab \r\n,", max_size=40))
def test_positions_from_line_breaks_equal_line_column(text: str) -> None:
    from anima_caption._check._engine import _line_breaks, _position
    from anima_caption._errors import line_column

    breaks = _line_breaks(text)
    for offset in range(len(text) + 1):
        assert _position(text, breaks, offset) == line_column(text, offset), (text, offset)


def test_fix_records_compare_by_actual_positions() -> None:
    from anima_caption._check._diagnostic import Applicability, EditRecord, FixRecord

    placed = FixRecord(Applicability.SAFE, "write 'x'", (EditRecord(0, 3, "x"),), 5)
    actual = FixRecord(Applicability.SAFE, "write 'x'", (EditRecord(5, 8, "x"),))
    assert placed == actual and hash(placed) == hash(actual)
    assert placed.edits == actual.edits == (EditRecord(5, 8, "x"),)
    assert placed != actual.shifted(1)
    assert placed.shifted(-5).edits == (EditRecord(0, 3, "x"),)
