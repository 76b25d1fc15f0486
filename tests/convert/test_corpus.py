"""~50 realistic SDXL-era captions (tests/convert/corpus/) converted with the real database.

File names say the dialect (``wd14_*``, ``sdxl_*``, ``pony_*``). Every caption must come
out in Anima form (the invariants below), unchanged by a second conversion, with every
sentence kept; a few are compared with their exact expected result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from anima_caption._convert import Converter
from anima_caption._kinds import Kind
from anima_caption._parse import parse

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.txt"))
TRIGGERS = ["Kanachan", "Yanagise Eika"]
PREFIX = "masterpiece, best quality, score_7"
RATING_WORDS = {"general", "questionable", "rating safe", "rating:general", "rating explicit"}


@pytest.fixture(scope="module")
def converters(real_tagdb_path: Path) -> Iterator[dict[str, Converter]]:
    from anima_caption._tagdb import TagDB

    with TagDB.open(real_tagdb_path) as db:
        yield {
            d: Converter(db, dialect=d, triggers=TRIGGERS, prefix=PREFIX)  # type: ignore[arg-type]
            for d in ("wd14", "sdxl", "pony")
        }


def test_the_corpus_is_the_size_the_issue_asks_for() -> None:
    assert len(FILES) >= 50
    kinds = {f.name.split("_")[0] for f in FILES}
    assert kinds == {"wd14", "sdxl", "pony"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_corpus_caption_converts_to_anima_form(
    path: Path, converters: dict[str, Converter]
) -> None:
    converter = converters[path.name.split("_")[0]]
    text = path.read_text(encoding="utf-8")
    result = converter.convert(text)
    out = result.text
    caption = parse(out, triggers=TRIGGERS)
    assert not caption.errors
    tags = caption.tags
    for tag in tags:
        assert "_" not in tag.raw or tag.kind is Kind.SCORE or tag.kaomoji, tag.raw
        assert "\\" not in tag.raw, tag.raw
        if tag.kind is Kind.TRIGGER:
            assert tag.raw in TRIGGERS, tag.raw  # a trigger is written as declared
        else:
            assert tag.raw == tag.raw.lower(), tag.raw
        assert tag.text not in RATING_WORDS
        assert not re.fullmatch(r"score_\d+_up|source .*|score_(0|10)", tag.text), tag.text
    assert "BREAK" not in out
    assert not any(item.type == "group" for item in caption.items), "weights left"
    assert len({t.text for t in tags if t.kind is Kind.SAFETY}) <= 1
    assert len([t for t in tags if t.kind is Kind.SCORE]) == 1
    assert [t.text for t in tags[:2]] == ["masterpiece", "best quality"] or "best quality" in {
        t.text for t in tags[:3]
    }
    assert not any(t.kind is Kind.YEAR for t in tags)
    # sentences kept whole
    for sentence in parse(text, triggers=TRIGGERS).sentences:
        assert sentence.text in out
    # the trigger is in the character section: nothing of a later section before it
    ranks = [t.section.rank for t in tags]
    for index, tag in enumerate(tags):
        if tag.kind is Kind.TRIGGER:
            assert all(r <= tag.section.rank for r in ranks[:index]), out
    # idempotent, and every change names a rule and lies inside the input
    again = converter.convert(out)
    assert again.text == out and not again.changes
    for change in result.changes:
        assert change.rule
        if change.span is not None:
            assert text[change.span[0] : change.span[1]] == change.old


EXPECTED = {
    "pony_001": "masterpiece, best quality, score_9, safe, 1girl, hatsune miku, vocaloid, "
    "twintails, aqua hair, detailed eyes, smile, looking at viewer",
    "pony_003": "masterpiece, best quality, score_8, nsfw, 1girl, solo, smile, bikini, beach",
    "pony_017": "masterpiece, best quality, score_9, explicit, 1girl, solo, smile",
    "sdxl_001": "masterpiece, best quality, score_7, newest, absurdres, highres, nsfw, 1girl, "
    "solo, Yanagise Eika, ganyu (genshin impact), @nnn yryr, blurry, {smile|grin}, front view",
    "sdxl_003": "masterpiece, best quality, score_7, sensitive, 1girl, solo, @wlop, long hair, "
    "detailed face, beautiful eyes, cinematic lighting",
    "sdxl_010": "masterpiece, best quality, score_7, safe, 1girl, twintails, side ponytail, "
    "blue eyes, smile",
    "wd14_001": "masterpiece, best quality, score_7, safe, 1girl, solo, long hair, looking at "
    "viewer, blush, smile, bangs, blue eyes, brown hair, shirt, hair ornament, white background, "
    "simple background, :d, ^_^",
    "wd14_010": "masterpiece, best quality, score_7, safe, 1girl, solo, plaid skirt, red footwear, "
    "bangs, brown eyes, brown hair, standing, full body, white background",
    "wd14_011": "masterpiece, best quality, score_7, safe, 1girl, solo, long hair, smile",
}


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_corpus_exact_results(stem: str, converters: dict[str, Converter]) -> None:
    text = (CORPUS / f"{stem}.txt").read_text(encoding="utf-8")
    result = converters[stem.split("_")[0]].convert(text)
    assert result.text == EXPECTED[stem] + "\n"


def test_changes_explain_the_pony_caption(converters: dict[str, Converter]) -> None:
    text = (CORPUS / "pony_001.txt").read_text(encoding="utf-8")
    changes = {(c.rule, c.old, c.new) for c in converters["pony"].convert(text).changes}
    assert {
        ("score", "score_8_up", ""),
        ("score", "score_7_up", ""),
        ("pony-source", "source_anime", ""),
        ("rating", "rating_safe", "safe"),
        ("lowercase", "Hatsune Miku", "hatsune miku"),
        ("alias", "twin tails", "twintails"),
        ("weight", "(detailed eyes:1.2)", "detailed eyes"),
        ("break", "BREAK", ""),
        ("prefix", "", "masterpiece"),
    } <= changes


def test_wd14_removed_tags_never_lose_their_information(
    converters: dict[str, Converter],
) -> None:
    """Issue 13: `plaid` beside `plaid_skirt` is dropped (the skirt says it); `red_footwear`
    and `bangs` have no successor in Danbooru's data, so they are kept and reported."""
    text = (CORPUS / "wd14_010.txt").read_text(encoding="utf-8")
    result = converters["wd14"].convert(text)
    dropped = {c.old for c in result.changes if c.rule == "deprecated"}
    assert dropped == {"plaid"}
    assert "red footwear" in result.text and "bangs" in result.text
    notes = " ".join(result.notes)
    assert "'red footwear' was removed on Danbooru and kept" in notes
    assert "'bangs' was removed on Danbooru and kept" in notes


def test_removed_tag_alone_gets_its_successor(converters: dict[str, Converter]) -> None:
    result = converters["wd14"].convert("1girl, plaid, red_skirt")
    assert result.text == "masterpiece, best quality, score_7, 1girl, plaid clothes, red skirt"
    (change,) = [c for c in result.changes if c.rule == "successor"]
    assert (change.old, change.new) == ("plaid", "plaid clothes")
    assert "Danbooru replaced `plaid` with `plaid clothes`" in change.message


def test_prune_implied_and_policy_style_absorbed(real_tagdb_path: Path) -> None:
    from anima_caption._tagdb import TagDB

    with TagDB.open(real_tagdb_path) as db:
        converter = Converter(
            db,
            dialect="sdxl",
            triggers=TRIGGERS,
            prune_implied=True,
            absorbed={"brown hair", "brown eyes"},
        )
        text = (CORPUS / "sdxl_012.txt").read_text(encoding="utf-8")
        result = converter.convert(text)
        assert "scrunchie," not in result.text.replace("blue scrunchie,", "")
        implied = [c for c in result.changes if c.rule == "implied"]
        assert implied and implied[0].old == "scrunchie"
        assert "blue scrunchie" in implied[0].message
        pony = (CORPUS / "pony_016.txt").read_text(encoding="utf-8")
        result = converter.convert(pony)
        assert "brown hair" not in result.text and "brown eyes" not in result.text
        assert {c.old for c in result.changes if c.rule == "absorbed"} == {
            "brown hair",
            "brown eyes",
        }


def test_year_kept_on_request(converters: dict[str, Converter], real_tagdb_path: Path) -> None:
    from anima_caption._tagdb import TagDB

    text = (CORPUS / "sdxl_006.txt").read_text(encoding="utf-8")
    assert "year 2024" not in converters["sdxl"].convert(text).text
    with TagDB.open(real_tagdb_path) as db:
        kept = Converter(db, dialect="sdxl", keep_year=True).convert(text)
    assert "year 2024" in kept.text


def test_without_a_database_the_result_says_what_was_not_checked() -> None:
    text = (CORPUS / "sdxl_001.txt").read_text(encoding="utf-8")
    result = Converter(None, dialect="sdxl", triggers=TRIGGERS).convert(text)
    assert "nnn yryr" in result.text and "@nnn yryr" not in result.text
    assert any("artist" in u for u in result.unchecked)
    assert any("alias" in u for u in result.unchecked)
    # what needs no database is still done
    assert "ganyu (genshin impact)" in result.text and "nsfw" in result.text
