"""Canonical formatting on concrete captions."""

from __future__ import annotations

import pytest

import anima_caption
from tests.test_parse import SEED_TEMPLATE


def test_seed_template_becomes_one_line_in_section_order() -> None:
    out = anima_caption.format(SEED_TEMPLATE, triggers=["kanachan"])
    assert "\n" not in out
    assert out.startswith(
        "masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, A close-up"
    )
    assert "the image, and a small antenna" in out
    assert out.endswith("white background, simple background")


def test_underscores_case_escapes_and_sections() -> None:
    text = "Side_Ponytail, 1girl, ganyu \\(genshin impact\\), safe, score_7, ^_^, Masterpiece"
    assert anima_caption.format(text) == (
        "safe, score_7, masterpiece, 1girl, side ponytail, ganyu (genshin impact), ^_^"
    )  # the prefix section keeps its tags in their original order


def test_duplicates_removed_and_optional() -> None:
    assert anima_caption.format("1girl, smile, Smile, smile") == "1girl, smile"
    assert anima_caption.format("smile, smile", dedupe=False) == "smile, smile"


def test_sort_can_be_disabled() -> None:
    assert anima_caption.format("smile, 1girl, safe", sort=False) == "smile, 1girl, safe"


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        ("keep", "safe, 1girl, kanachan, She smiles. smile, solo"),
        ("end", "safe, 1girl, kanachan, smile, solo, She smiles."),
        ("after-character", "safe, 1girl, kanachan, She smiles. smile, solo"),
    ],
)
def test_sentence_placement(placement: str, expected: str) -> None:
    text = "1girl, kanachan, She smiles. smile, safe, solo"
    assert anima_caption.format(text, triggers=["kanachan"], sentences=placement) == expected  # type: ignore[arg-type]


def test_sentence_placement_after_character_moves_early_sentences() -> None:
    text = "She smiles. smile, 1girl, kanachan"
    out = anima_caption.format(text, triggers=["kanachan"], sentences="after-character")
    assert out == "1girl, kanachan, She smiles. smile"


def test_markers_keep_their_place() -> None:
    text = "smile, 1girl ||| safe, kanachan, BREAK, 1boy, score_7"
    out = anima_caption.format(text, triggers=["kanachan"])
    assert out == "1girl, smile ||| safe, kanachan, BREAK, score_7, 1boy"


def test_weights_kept_and_tidied() -> None:
    assert anima_caption.format("1girl, ( Red_Hair :1.20 )") == "1girl, (red hair:1.2)"


def test_header_kept_on_its_lines() -> None:
    text = "deviantart\r\nFlame\r\nDigital painting of a fire. It glows."
    assert anima_caption.format(text) == "deviantart\nFlame\nDigital painting of a fire. It glows."


def test_kaomoji_after_sentence_gets_a_comma() -> None:
    out = anima_caption.format("She smiles.\n;)")
    assert out == "She smiles., ;)"  # a space alone would make ';' part of the sentence
    assert anima_caption.format(out) == out


@pytest.mark.parametrize("text", ["{,}_", "{\x00}_", "x, {,}_, y", "a\\", "ganyu_(genshin_impact)"])
def test_format_is_stable_on_tags_whose_normal_form_reads_back_differently(text: str) -> None:
    """`{,}_` normalises to `{,}`, which would read back as a brace group: such a tag is
    written as it was, so formatting twice changes nothing."""
    once = anima_caption.format(text)
    assert anima_caption.format(once) == once
    assert [t.text for t in anima_caption.parse(once).tags] == [
        t.text for t in anima_caption.parse(text).tags
    ]
