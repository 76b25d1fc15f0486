"""Properties at the limits a hostile dataset reaches: brackets nested past
``MAX_NESTING`` and captions thousands of items long (issue 15 items 6 and 7).

The generators build bracket structures of any depth up to well past the limit (closed,
unclosed, mismatched and stray brackets mixed in) and long runs of tags and sentences.
Every stage must take them without an exception, keep the round trip, and stay
idempotent; the scanner must still agree with the lark grammar past the limit.
"""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

import anima_caption
from anima_caption import CaptionSyntaxError
from anima_caption._grammar import lark_scan
from anima_caption._scanner import MAX_NESTING, scan
from tests.strategies import realistic_caption

_PAIRS = [("(", ")"), ("[", "]"), ("{", "}")]
_FILLERS = ["smile", "long_hair", "1girl", "a, b", ":1.2", "\\(x\\)", "A girl. ", "|", " "]


@st.composite
def nested(draw: st.DrawFn, most: int = MAX_NESTING + 24) -> str:
    """Brackets nested 0 … ``most`` deep, with text, separators and damage at each level."""
    depth = draw(st.integers(0, most))
    pairs = [draw(st.sampled_from(_PAIRS)) for _ in range(depth)]
    fill = st.sampled_from(_FILLERS)
    opening = "".join(
        open_ + (draw(fill) + ", " if draw(st.integers(0, 4)) == 0 else "") for open_, _ in pairs
    )
    closing = []
    for _, close in reversed(pairs):
        damage = draw(st.integers(0, 12))
        closing.append(
            "" if damage == 0 else (close + "]" if damage == 1 else close)  # unclosed / stray
        )
    tail = draw(st.sampled_from(["", ", solo", ")", ", (x"]))
    return draw(st.sampled_from(["", "1girl, "])) + opening + draw(fill) + "".join(closing) + tail


@st.composite
def long_caption(draw: st.DrawFn) -> str:
    """Hundreds to thousands of items: realistic captions glued together, repeated."""
    parts = draw(st.lists(realistic_caption(), min_size=1, max_size=4))
    times = draw(st.integers(20, 250))
    return ", ".join(parts * times)


def _stages(text: str) -> None:
    caption = anima_caption.parse(text)
    assert str(caption) == text
    anima_caption.lint(text)
    once = anima_caption.fix(text)
    assert anima_caption.fix(once) == once
    with contextlib.suppress(CaptionSyntaxError):  # convert refuses syntax errors
        anima_caption.convert(text)
    try:
        formatted = anima_caption.format(text)
    except CaptionSyntaxError:
        return
    assert anima_caption.format(formatted) == formatted


@settings(max_examples=300)
@given(nested())
def test_every_stage_takes_any_nesting(text: str) -> None:
    _stages(text)


@settings(max_examples=300)
@given(nested())
def test_scanner_equals_grammar_past_the_nesting_limit(text: str) -> None:
    assert scan(text) == lark_scan(text)


@settings(max_examples=12)
@given(long_caption())
def test_every_stage_takes_long_captions(text: str) -> None:
    _stages(text)


@settings(max_examples=10)
@given(st.integers(MAX_NESTING + 1, 20_000), st.sampled_from(_PAIRS))
def test_nesting_far_past_the_limit_is_one_error(depth: int, pair: tuple[str, str]) -> None:
    text = pair[0] * depth + "smile" + pair[1] * depth
    caption = anima_caption.parse(text)
    assert str(caption) == text
    assert len(caption.errors) == 1
