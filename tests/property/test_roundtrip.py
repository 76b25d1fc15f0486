"""The round-trip contract: ``str(parse(s)) == s`` for every string, and the parser never fails."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import anima_caption
from anima_caption import Group
from tests.strategies import realistic_caption

_CHARS = st.characters(codec="utf-8") | st.sampled_from(
    list(",()[]{}|\\:.!?_@ \t\r\n\x00\x85\u2028\u3000^<>;~")
)
_CHUNKS = st.sampled_from(
    [
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "|",
        "|||",
        ":",
        ":1.2)",
        "1.2",
        "a",
        "A b.",
        " ",
        ", ",
        ",",
        "\n",
        "\r\n",
        "\\",
        "\\(",
        "^_^",
        ":d",
        ";)",
        "BREAK",
        "ye-pop\n",
        "side ponytail",
        "Her hair, long.",
        "st. louis",
        "\t",
        "\x00",
    ]
)
_ARBITRARY = st.text(alphabet=_CHARS, max_size=200) | st.lists(
    _CHUNKS | st.text(alphabet=_CHARS, max_size=3), max_size=40
).map("".join)


def _check_spans(caption: anima_caption.Caption, text: str) -> None:
    for item in caption.items:
        start, end = item.span
        assert 0 <= start <= end <= len(text)
        assert text[start:end] == item.raw
        if isinstance(item, Group):
            for inner in item.items:
                assert start <= inner.span[0] <= inner.span[1] <= end
                assert text[inner.span[0] : inner.span[1]] == inner.raw


@settings(max_examples=600)
@given(_ARBITRARY)
def test_arbitrary_text_round_trips(text: str) -> None:
    caption = anima_caption.parse(text)
    assert str(caption) == text
    assert caption.to_text() == text
    _check_spans(caption, text)


@settings(max_examples=400)
@given(realistic_caption())
def test_realistic_captions_round_trip(text: str) -> None:
    caption = anima_caption.parse(text)
    assert str(caption) == text
    _check_spans(caption, text)
    # Realistic captions have no syntax errors: every bracket is closed.
    assert caption.errors == ()


@settings(max_examples=200)
@given(_ARBITRARY)
def test_json_round_trip_of_the_model(text: str) -> None:
    caption = anima_caption.parse(text)
    again = anima_caption.Caption.model_validate_json(caption.model_dump_json())
    assert again == caption
    assert str(again) == text


@settings(max_examples=300)
@given(_ARBITRARY | realistic_caption())
def test_parser_builds_exactly_what_validation_builds(text: str) -> None:
    """The parser skips re-validation; prove its objects equal validated ones."""
    caption = anima_caption.parse(text)
    validated = anima_caption.Caption.model_validate(caption.model_dump())
    assert validated == caption
    assert validated.model_dump() == caption.model_dump()
    assert repr(validated) == repr(caption)
