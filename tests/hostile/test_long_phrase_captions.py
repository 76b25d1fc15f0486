"""Issue 15 item 7: a caption of many phrases without a full stop is parsed in linear time.

Before: ``", ".join(["one two three four five"] * 20000)`` (500 KB) took six minutes: every
piece that may open a sentence was scanned to the caption's end. The ratio of two sizes,
measured in the same run, tells linear (about 10x for 10x the size) from quadratic (100x).
"""

from __future__ import annotations

import time

import pytest

from anima_caption import parse


def _seconds(text: str) -> float:
    started = time.process_time()
    parse(text)
    return time.process_time() - started


@pytest.mark.parametrize(
    "phrase", ["one two three four five", "a girl walking along the shore at dawn"]
)
def test_ten_times_the_phrases_cost_about_ten_times_the_time(phrase: str) -> None:
    small = ", ".join([phrase] * 500)
    large = ", ".join([phrase] * 5000)
    _seconds(small)  # warm caches
    ratio = _seconds(large) / max(_seconds(small), 1e-3)
    assert ratio < 40, ratio  # quadratic would be about 100
