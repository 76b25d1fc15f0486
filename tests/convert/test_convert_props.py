"""Properties of convert over generated SDXL-era captions (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from anima_caption._convert import Converter
from anima_caption._errors import CaptionSyntaxError
from anima_caption._parse import parse
from tests.strategies import realistic_caption

PONY_EXTRA = [
    "score_9",
    "score_8_up",
    "score_7_up",
    "source_anime",
    "rating_safe",
    "rating:questionable",
    "general",
    "questionable",
    "artist:wlop",
    "BREAK",
    "Kanachan",
    "year 2021",
    "Twin_Tails",
    "bangs",
    "blue scrunchie",
    "scrunchie",
]


@st.composite
def sdxl_caption(draw: st.DrawFn) -> str:
    """The realistic caption strategy plus Pony / WD14 / NoobAI words mixed in."""
    text = draw(realistic_caption())
    extra = draw(st.lists(st.sampled_from(PONY_EXTRA), max_size=5))
    if extra:
        text = (
            ", ".join(extra) + ", " + text
            if draw(st.booleans())
            else text + ", " + ", ".join(extra)
        )
    return text


def _sentences(text: str) -> list[str]:
    return [s.text for s in parse(text, triggers=["kanachan"]).sentences]


def _check(converter: Converter, text: str) -> None:
    try:
        once = converter.convert(text)
    except CaptionSyntaxError:
        assume(False)
        return
    twice = converter.convert(once.text)
    assert twice.text == once.text, (text, once.text, twice.changes)
    assert not twice.changes, twice.changes
    # natural language survives whole
    out = once.text
    for sentence in _sentences(text):
        assert sentence in out, (sentence, out)
    # every change's span lies inside the input
    for change in once.changes:
        if change.span is not None:
            start, end = change.span
            assert 0 <= start <= end <= len(text)
            assert text[start:end] == change.old


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(sdxl_caption(), st.sampled_from(["wd14", "sdxl", "pony"]), st.booleans())
def test_idempotent_and_keeps_sentences_without_database(
    text: str, dialect: str, markers: bool
) -> None:
    converter = Converter(
        None,
        dialect=dialect,
        triggers=["kanachan"],  # type: ignore[arg-type]
        prefix="masterpiece, best quality, score_7",
        markers="remove" if markers else "keep",
    )
    _check(converter, text)


@pytest.fixture(scope="module")
def real_db(real_tagdb_path: Path):  # type: ignore[no-untyped-def]
    from anima_caption._tagdb import TagDB

    with TagDB.open(real_tagdb_path) as db:
        yield db


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_idempotent_and_keeps_sentences_with_the_real_database(real_db, data) -> None:  # type: ignore[no-untyped-def]
    text = data.draw(sdxl_caption())
    converter = Converter(
        real_db,
        dialect=data.draw(st.sampled_from(["wd14", "sdxl", "pony"])),
        triggers=["kanachan"],
        prefix="masterpiece, best quality, score_7, safe",
        prune_implied=data.draw(st.booleans()),
        keep_year=data.draw(st.booleans()),
    )
    _check(converter, text)
