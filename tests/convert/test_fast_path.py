"""The fast path of convert (rendering tag-and-sentence captions directly) gives exactly
what the general path (rebuild the caption model, then ``format_caption``) gives."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_caption._convert import Converter
from anima_caption._convert import _convert as _convert_module
from anima_caption._errors import CaptionSyntaxError
from tests.convert.test_convert_props import sdxl_caption

CORPUS = Path(__file__).parent / "corpus"
BENCH = Path(__file__).resolve().parents[2] / "bench"
TRIGGERS = ["kanachan", "Yanagise Eika"]
PREFIX = "masterpiece, best quality, score_7"
#: corpus files (of 50) that must take the fast path in each dialect (48 today: the two
#: others hold a header line or a wildcard)
FAST_CORPUS_FLOOR = 45


def _pair(db: object, **options: object) -> tuple[Converter, Converter]:
    fast = Converter(db, triggers=TRIGGERS, prefix=PREFIX, **options)  # type: ignore[arg-type]
    slow = Converter(db, triggers=TRIGGERS, prefix=PREFIX, **options)  # type: ignore[arg-type]
    slow._fast = False
    return fast, slow


@contextmanager
def _paths_taken() -> Iterator[Counter[str]]:
    """Counts the calls of the two renderers convert can end in: the fast path's
    ``_render`` and the general path's ``format_caption`` (observed, not re-derived)."""
    calls: Counter[str] = Counter()
    fast_render = _convert_module._render
    general = _convert_module.format_caption

    def render(*args: Any, **kwargs: Any) -> str:
        calls["fast"] += 1
        return fast_render(*args, **kwargs)

    def format_caption(*args: Any, **kwargs: Any) -> str:
        calls["general"] += 1
        return general(*args, **kwargs)

    with (
        patch.object(_convert_module, "_render", render),
        patch.object(_convert_module, "format_caption", format_caption),
    ):
        yield calls


def _same(fast: Converter, slow: Converter, text: str) -> bool:
    """Both paths agree on ``text``; True when the fast converter did take the fast path
    (seen from the renderer it called)."""
    try:
        with _paths_taken() as calls:
            expected = slow.convert(text)
        assert calls["fast"] == 0, "the general path rendered with the fast renderer"
    except CaptionSyntaxError:
        with pytest.raises(CaptionSyntaxError):
            fast.convert(text)
        return False
    with _paths_taken() as calls:
        got = fast.convert(text)
    assert calls["fast"] + calls["general"] == 1, calls  # one renderer, once
    assert got.text == expected.text, (text, got.text, expected.text)
    assert got.changes == expected.changes
    assert got.unknown == expected.unknown
    assert got.notes == expected.notes
    return calls["fast"] == 1


@pytest.fixture(scope="module")
def real_db(real_tagdb_path: Path) -> Iterator[object]:
    from anima_caption._tagdb import TagDB

    with TagDB.open(real_tagdb_path) as db:
        yield db


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fast_path_equals_general_path_on_generated_captions(real_db, data) -> None:  # type: ignore[no-untyped-def]
    text = data.draw(sdxl_caption())
    dialect = data.draw(st.sampled_from(["wd14", "sdxl", "pony"]))
    db = data.draw(st.sampled_from([real_db, None]))
    fast, slow = _pair(db, dialect=dialect, keep_year=data.draw(st.booleans()))
    _same(fast, slow, text)


@pytest.mark.parametrize("dialect", ["wd14", "sdxl", "pony"])
def test_fast_path_equals_general_path_on_the_corpus(real_db: object, dialect: str) -> None:
    fast, slow = _pair(real_db, dialect=dialect)
    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*"))]
    ran = [_same(fast, slow, text) for text in texts]
    changed = sum(fast.convert(text).text != text for text in texts)
    # the corpus is SDXL-era captions: convert must rewrite them, and do most of them on
    # the fast path, or the comparison above compared the general path with itself
    assert changed >= len(texts) // 2, changed
    assert sum(ran) >= FAST_CORPUS_FLOOR, (sum(ran), len(texts))


def test_the_observation_sees_which_path_ran(real_db: object) -> None:
    """The spy is what the tests above lean on: a converter with the fast path switched off
    is seen taking the general one, and a caption with a header always does."""
    fast, slow = _pair(real_db, dialect="sdxl")
    assert _same(fast, slow, "1girl, Long_Hair, smile")
    fast._fast = False
    assert not _same(fast, slow, "1girl, Long_Hair, smile")
    fast._fast = True
    assert not _same(fast, slow, "ye-pop\nA title line\n1girl, smile, Long_Hair")


def test_fast_path_equals_general_path_on_bench_captions(real_db: object) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from bench_convert import make_captions
    finally:
        sys.path.remove(str(BENCH))
    fast, slow = _pair(real_db, dialect="pony")
    captions = make_captions(400, seed=3)
    fast_runs = sum(_same(fast, slow, text) for text in captions)
    # the fast path is what bulk runs take: most of these captions must go through it
    assert fast_runs >= 300, fast_runs


def test_captions_outside_the_fast_path_still_agree(real_db: object) -> None:
    fast, slow = _pair(real_db, dialect="sdxl")
    for text in [
        "ye-pop\nA title line\n1girl, smile, Long_Hair",
        "1girl ||| smile, masterpiece",
        "{smile|grin}, 1girl, general",
    ]:
        assert not _same(fast, slow, text), text  # a header, a kept '|||', a wildcard
    for text in [
        "Two girls talk. They laugh, loudly. 1girl, smile, :d, Another sentence here.",
        "smile, smile, 1girl, Twin_Tails, twintails, A girl waves.",
    ]:
        _same(fast, slow, text)


def test_fast_path_follows_format_after_sentences(real_db: object) -> None:
    fast, slow = _pair(real_db, dialect="sdxl")
    for text in [
        "A girl waves. She smiles, then. Long_Hair, 1girl",
        "She waits at st. louis station today. Long_Hair, :d, Smile",
        "1girl, Dr. Who waves at us. He grins. smile, A girl sits. solo",
        "Two girls talk. They laugh, loudly. 1girl, smile, :d, Another sentence here.",
    ]:
        assert _same(fast, slow, text), text


def test_convert_many_restores_the_garbage_collector(real_db: object) -> None:
    import gc

    converter = Converter(real_db, dialect="sdxl")  # type: ignore[arg-type]
    assert gc.isenabled()
    results = converter.convert_many(["1girl, Long_Hair", "general, smile"])
    assert [r.text for r in results] == ["1girl, long hair", "safe, smile"]
    assert gc.isenabled()
    with pytest.raises(CaptionSyntaxError):
        converter.convert_many(["1girl, (smile", "smile"])
    assert gc.isenabled()
    gc.disable()
    try:
        converter.convert_many(["smile"])
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
