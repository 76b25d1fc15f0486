"""Properties of canonical formatting: idempotent, and the tag set is kept."""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given, settings

import anima_caption
from anima_caption import CaptionSyntaxError
from tests.property.test_roundtrip import _ARBITRARY
from tests.strategies import realistic_caption


def _formatted(text: str) -> str:
    try:
        return anima_caption.format(text)
    except CaptionSyntaxError:
        assume(False)
        raise


@settings(max_examples=400)
@given(realistic_caption())
def test_format_is_idempotent(text: str) -> None:
    once = _formatted(text)
    assert anima_caption.format(once) == once


@settings(max_examples=400)
@given(_ARBITRARY)
# An ideographic space folds to " " in a sentence: "A b. 0." would read back as two items.
@example(text="A b.\u30000.")
def test_format_is_idempotent_on_arbitrary_text(text: str) -> None:
    once = _formatted(text)
    assert anima_caption.format(once) == once


@settings(max_examples=400)
@given(realistic_caption())
def test_format_keeps_the_tag_set_and_the_sentences(text: str) -> None:
    before = anima_caption.parse(text)
    after = anima_caption.parse(_formatted(text))
    assert {t.text for t in after.tags} == {t.text for t in before.tags}
    assert [s.text for s in after.sentences] == [s.text for s in before.sentences] or sorted(
        s.text for s in after.sentences
    ) == sorted(s.text for s in before.sentences)


@settings(max_examples=300)
@given(realistic_caption())
def test_format_output_is_one_line_after_the_header(text: str) -> None:
    formatted = _formatted(text)
    caption = anima_caption.parse(formatted)
    body = formatted[len(caption.header.raw) :] if caption.header else formatted
    assert "\n" not in body and "\r" not in body


def test_format_rejects_captions_with_errors() -> None:
    with pytest.raises(CaptionSyntaxError) as info:
        anima_caption.format("1girl, (smile, solo")
    assert info.value.span == (7, 8)
    assert "never closed" in str(info.value)
