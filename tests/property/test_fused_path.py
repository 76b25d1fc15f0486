"""Differential test: the fused text → model path builds exactly what the IR path builds.

``Builder.parse`` splits text at plain separators and reuses per-piece work cached by text;
``Builder.build_caption`` walks the scanner's IR (itself proven equal to the lark grammar).
Both must give identical captions for every input, with and without a lookup, triggers or
a dataset header, including when the caches are warm from earlier captions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from anima_caption._build import Builder
from anima_caption._kinds import Category
from anima_caption._scanner import scan
from tests.property.test_roundtrip import _ARBITRARY
from tests.strategies import realistic_caption


class _SmallLookup:
    """A real (if tiny) lookup: a few Danbooru tags with their categories."""

    _KNOWN: ClassVar[dict[str, Category]] = {
        "long hair": Category.GENERAL,
        "ganyu (genshin impact)": Category.CHARACTER,
        "genshin impact": Category.COPYRIGHT,
        "solo": Category.GENERAL,
        "nnn yryr": Category.ARTIST,
    }

    def category(self, name: str) -> Category | None:
        return self._KNOWN.get(name)

    def categories(self, names: Iterable[str]) -> list[Category | None]:
        return [self._KNOWN.get(n) for n in names]


# Shared across examples on purpose: warm caches are the normal state in a dataset run.
_PLAIN = Builder(None)
_WITH_LOOKUP = Builder(_SmallLookup(), triggers=["kanachan", "Yanagise Eika"])


def _assert_same(builder: Builder, text: str) -> None:
    header, ir = scan(text)
    reference = builder.build_caption(text, header, ir)
    fused = builder.parse(text)
    assert fused == reference
    assert repr(fused) == repr(reference)  # field order and nested items too
    assert str(fused) == text


_PIECES = st.sampled_from(
    [
        "1girl",
        "solo",
        "long hair",
        "Long Hair",
        "long_hair",
        "ganyu (genshin impact)",
        "ganyu \\(genshin impact\\)",
        "(smile:1.2)",
        "[blush]",
        "{a|b}",
        "^_^",
        ":d",
        "BREAK",
        "|||",
        "@nnn yryr",
        "@big chungus.",
        "kanachan",
        "Yanagise Eika",
        "A girl stands in the rain",
        "holding an umbrella.",
        "She smiles. blue eyes",
        "a cat sleeping on a windowsill.",
        "st. louis (azur lane)",
        "score_7",
        "no humans",
        "(",
        ")",
        "a\\",
        "",
        " ",
        "\x00",
    ]
)
_SEPARATORS = st.sampled_from([", ", ",", ",\n", "\n", " , ", ",  ", "\r\n", ", , "])


@st.composite
def _joined(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(_PIECES, max_size=25))
    out = draw(st.sampled_from(["", " ", "\n", ", ", "ye-pop\n", "deviantart\nA title\n"]))
    for index, piece in enumerate(pieces):
        if index:
            out += draw(_SEPARATORS)
        out += piece
    return out + draw(st.sampled_from(["", "\n", ", ", " ", "\r\n"]))


@settings(max_examples=800)
@given(_ARBITRARY)
def test_fused_equals_ir_path_on_arbitrary_text(text: str) -> None:
    _assert_same(_PLAIN, text)
    _assert_same(_WITH_LOOKUP, text)


@settings(max_examples=800)
@given(_joined())
def test_fused_equals_ir_path_on_joined_pieces(text: str) -> None:
    _assert_same(_PLAIN, text)
    _assert_same(_WITH_LOOKUP, text)


@settings(max_examples=300)
@given(realistic_caption())
def test_fused_equals_ir_path_on_realistic_captions(text: str) -> None:
    _assert_same(_PLAIN, text)
    _assert_same(_WITH_LOOKUP, text)


def test_fused_path_is_taken_for_plain_captions() -> None:
    """The fast path must actually apply to ordinary captions (not fall back silently)."""
    builder = Builder(None)
    for text in [
        "masterpiece, 1girl, solo, long hair, ganyu (genshin impact), (smile:1.2)",
        "1girl,solo,long_hair\n",
        "1girl, solo,\nA girl stands in the rain, holding an umbrella.\nblue eyes",
        "ye-pop\nA title line\nA photo of a cat, sitting.",
    ]:
        assert builder._fused(text) is not None, text
    assert builder._fused("a (b, c) d") is None  # a group across a separator: IR path
