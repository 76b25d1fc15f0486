"""The failures issue 13 reported, each with invented text of the same shape as the real
captions (the real ones are in tests/corpus_real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anima_caption import Converter, TagDB, format, lint, parse

FROG = (
    "This is a digital drawing in a cartoonish, flat-shaded style, featuring a dimly lit, "
    "intimate setting. The central figure is a large, anthropomorphic frog with exaggerated "
    "facial features, including large, expressive eyes and a wide, drooping mouth."
)
FROG_SENTENCES = [
    "This is a digital drawing in a cartoonish, flat-shaded style, featuring a dimly lit, "
    "intimate setting.",
    "The central figure is a large, anthropomorphic frog with exaggerated facial features, "
    "including large, expressive eyes and a wide, drooping mouth.",
]


def _kinds(text: str, **kwargs: object) -> list[tuple[str, str]]:
    return [(str(i.type), i.raw) for i in parse(text, **kwargs).items]  # type: ignore[arg-type]


def test_prose_with_many_commas_is_two_sentences() -> None:
    assert _kinds(FROG) == [("sentence", s) for s in FROG_SENTENCES]


def test_a_phrase_caption_is_natural_language_throughout() -> None:
    text = "a TOK style panoramic mountain vista, serene and expansive, soft morning light"
    items = _kinds(text, triggers=["TOK"])
    assert [kind for kind, _ in items] == ["sentence", "sentence", "sentence"]


def test_a_cut_off_last_sentence_is_a_sentence() -> None:
    text = "1girl, solo, smile. The frog sits on a lily pad. The overall atmosphere"
    assert _kinds(text)[-1] == ("sentence", "The overall atmosphere")


def test_capitalised_sdxl_trigger_before_tags_stays_a_tag() -> None:
    items = _kinds("Yanagise Eika, 1girl, solo, long hair, smile")
    assert all(kind == "tag" for kind, _ in items)


@pytest.mark.parametrize("dialect", ["sdxl", "wd14"])
def test_convert_keeps_prose_and_its_closing_quote(dialect: str) -> None:
    text = '1girl, frog, A sign labeled "TOM." The frog waves, smiling.'
    out = Converter(None, dialect=dialect).convert(text).text  # type: ignore[arg-type]
    assert 'A sign labeled "TOM."' in out
    assert "The frog waves, smiling." in out
    assert format(text).count('"TOM."') == 1


def test_convert_keeps_a_paragraph_byte_for_byte() -> None:
    out = Converter(None, dialect="sdxl").convert("1girl, frog, " + FROG).text
    for sentence in FROG_SENTENCES:
        assert sentence in out


def test_convert_writes_the_declared_trigger() -> None:
    converter = Converter(None, dialect="sdxl", triggers=["lilith_default"])
    assert "lilith_default" in converter.convert("lilith_default, 1girl, smile").text
    tok = Converter(None, dialect="sdxl", triggers=["TOK"])
    assert "a TOK style" in tok.convert("a TOK style panoramic mountain vista, serene").text


@pytest.fixture(scope="module")
def db(real_tagdb_path: Path) -> TagDB:
    return TagDB.open(real_tagdb_path)


def test_no_piece_of_the_paragraph_is_a_missing_tag(db: TagDB) -> None:
    found = lint("1girl, " + FROG, db=db, select=["TG005"])
    assert found == []
