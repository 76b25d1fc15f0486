"""Long captions: the linear rewrites give exactly what the simple quadratic code gave.

Time itself is measured by ``bench/bench_long_captions.py`` (ratios of time per KB at
1×/4×/16×), never asserted here. These tests pin the *results* of the three places that
were quadratic in a caption's length — applying thousands of fixes, line/column of many
offsets, the caret frame of a diagnostic on a 150 KB one-line caption — against reference
implementations written the obvious way.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import anima_caption
from anima_caption._check._diagnostic import (
    Applicability,
    DiagnosticRecord,
    EditRecord,
    FixRecord,
    Severity,
)
from anima_caption._check._engine import _overlaps, apply_edits
from anima_caption._check._output import FRAME_WIDTH, _char_width, frame_lines
from anima_caption._errors import line_column


def _reference_apply(text: str, diagnostics: list[DiagnosticRecord]) -> tuple[str, int]:
    """The former implementation: every fix compared with every accepted edit, and the
    text re-sliced per edit."""
    accepted: list[EditRecord] = []
    count = 0
    candidates = sorted(
        (d for d in diagnostics if d.fix is not None),
        key=lambda d: (min((e.start for e in d.fix.edits), default=0), d.code)
        if d.fix
        else (0, ""),
    )
    for diagnostic in candidates:
        assert diagnostic.fix is not None
        edits = diagnostic.fix.edits
        if any(_overlaps(edit, other) for edit in edits for other in accepted):
            continue
        accepted.extend(edits)
        count += 1
    out = text
    for edit in sorted(accepted, key=lambda e: (e.start, e.end), reverse=True):
        out = out[: edit.start] + edit.content + out[edit.end :]
    return out, count


def _record(edits: list[tuple[int, int, str]], code: str = "TG001") -> DiagnosticRecord:
    fix = FixRecord(
        Applicability.SAFE, "fix", tuple(EditRecord(a, b, c) for a, b, c in edits)
    )
    return DiagnosticRecord("c.txt", 1, 1, code, "slug", Severity.WARNING, "m", fix=fix)


@st.composite
def _fixes(draw: st.DrawFn) -> tuple[str, list[DiagnosticRecord]]:
    text = draw(st.text(alphabet="ab, ", min_size=0, max_size=60))
    size = len(text)
    records = []
    for _ in range(draw(st.integers(0, 25))):
        edits = []
        at = draw(st.integers(0, size))
        for _ in range(draw(st.integers(1, 3))):
            start = draw(st.integers(at, size))
            end = draw(st.integers(start, min(size, start + 4)))
            edits.append((start, end, draw(st.sampled_from(["", "x", "yy", ", "]))))
            at = end
        own = [EditRecord(*e) for e in edits]
        if any(_overlaps(a, b) for i, a in enumerate(own) for b in own[i + 1 :]):
            continue  # rules never make a fix whose own edits collide
        records.append(_record(edits, draw(st.sampled_from(["TG001", "TG004", "WS001"]))))
    return text, records


@settings(max_examples=400)
@given(_fixes())
def test_applying_fixes_gives_what_the_simple_implementation_gave(
    case: tuple[str, list[DiagnosticRecord]],
) -> None:
    text, records = case
    assert apply_edits(text, records) == _reference_apply(text, records)


def test_thousands_of_duplicate_removals_are_all_applied_in_one_pass() -> None:
    tags = [f"tag {n}" for n in range(3000)]
    caption = ", ".join(tag for tag in tags for _ in range(2))  # every tag twice
    fixed = anima_caption.fix(caption)
    assert fixed == ", ".join(tags)


@settings(max_examples=300)
@given(st.text(alphabet="a\r\n ,", max_size=40), st.data())
def test_caption_position_equals_line_column(text: str, data: st.DataObject) -> None:
    caption = anima_caption.parse(text)
    for offset in data.draw(st.lists(st.integers(-2, len(text) + 2), max_size=10)):
        assert caption.position(offset) == line_column(text, offset)


def _reference_frame(
    text: str, span: tuple[int, int], width: int = FRAME_WIDTH
) -> tuple[str, str]:
    """The former ``frame_lines``: display widths of the whole line, every time."""
    start = max(0, min(span[0], len(text)))
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    line_end = len(text)
    for stop in ("\n", "\r"):
        found = text.find(stop, start)
        if found != -1:
            line_end = min(line_end, found)
    end = max(start + 1, min(span[1], line_end)) if line_end > start else start + 1
    line = text[line_start:line_end].replace("\t", " ")
    rel_start, rel_end = start - line_start, end - line_start

    # Display width per character (ASCII: one each, without asking unicodedata 600 times).
    widths = [1] * len(line) if line.isascii() else [_char_width(c) for c in line]
    total = sum(widths)
    lo, hi = 0, len(line)
    if total > width:
        # A window of about ``width`` columns: the span plus context on both sides.
        span_width = sum(widths[rel_start:rel_end])
        context = max(10, (width - span_width) // 2)
        lo, used = rel_start, 0
        while lo > 0 and used + widths[lo - 1] <= context:
            lo -= 1
            used += widths[lo]
        hi = min(len(line), rel_end)
        used = sum(widths[lo:hi])
        while hi < len(line) and used + widths[hi] <= width:
            used += widths[hi]
            hi += 1
    shown = line[lo:hi]
    prefix = "…" if lo > 0 else ""
    suffix = "…" if hi < len(line) else ""
    pad = sum(widths[lo:rel_start]) + len(prefix)
    under = sum(widths[rel_start : min(rel_end, hi)]) if rel_start < len(line) else 1
    under = max(1, under)
    marker = " " * pad + "~" * (under - 1) + "^"
    return f"{prefix}{shown}{suffix}", marker


@settings(max_examples=300)
@given(
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.integers(0, 30),
    st.sampled_from(["", "\n", "\r\n"]),
    st.sampled_from(["a, ", "猫, ", "a\t"]),
)
def test_frame_of_a_long_line_equals_the_whole_line_computation(
    before: int, after: int, length: int, newline: str, filler: str
) -> None:
    text = "head" + newline + filler * before + "b" * length + ", c" * after
    start = len(text) - 3 * after - length
    span = (start, start + length)
    assert frame_lines(text, span) == _reference_frame(text, span)
