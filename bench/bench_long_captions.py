"""Benchmark: does the time per kilobyte stay flat as one caption grows?

A caption is untrusted input: a dataset may hold a single 150 KB caption file (the
refusal limit is 1 MiB). Every stage must take time linear in its length, so this measures
CPU time per KB of one caption at 1×, 4× and 16× a base size, for several shapes:

* ``tags``: SDXL-era tags that the safe fixes rewrite (underscores, capitals, escapes,
  duplicates, weights), comma-separated on one line;
* ``prose``: natural-language sentences joined by spaces (sentence recognition);
* ``mixed``: tags with sentences between them, over several lines;
* ``plain``: lowercase tags with nothing to fix (the common case).

Stages: ``parse``, ``format``, ``lint`` (every caption rule), ``fix`` (safe fixes,
pass by pass until none applies, as ``check --fix``), ``convert --from sdxl``.

The figure that matters is the *ratio* of the time per KB at 4× and 16× to the time per
KB at 1×, measured in the same run (so a busy machine does not skew it): about 1 for
linear work, about 4 and 16 for quadratic work. No database is used (the stages that need
one are not length-sensitive: they look tags up once per spelling).

Run: ``python bench/bench_long_captions.py [--base-kb 10] [--shape tags] [--stage fix]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anima_caption

SENTENCES = [
    "A close-up portrait of a young girl with an angry expression looking at the viewer.",
    "Her side ponytail with a blue scrunchie is visible on the right side of the image.",
    "She stands in the rain, holding a red umbrella, and looks over her shoulder.",
    "The background is a quiet classroom lit by the afternoon sun.",
]
FIXABLE = [
    "Side_Ponytail", "long_hair", "Blue Eyes", "ganyu \\(genshin impact\\)", "(smile:1.2)",
    "open_mouth", "1girl", "looking at viewer", "hair ribbon", "school uniform",
]
PLAIN = [
    "long hair", "blue eyes", "smile", "open mouth", "looking at viewer", "school uniform",
    "hair ribbon", "simple background", "white background", "holding", "ahoge", "solo",
]
SIZES = (1, 4, 16)


def make_caption(shape: str, size: int, seed: int = 7) -> str:
    """A caption of about ``size`` characters of the given shape.

    The mix is the same at every size (each tag carries its own number, and every 7th
    tag repeats the one before), so the work per KB is the same when the code is linear.
    """
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    index = 0
    previous = "1girl"
    while total < size:
        index += 1
        sep = ", "
        if shape == "prose":
            piece, sep = rng.choice(SENTENCES), " "
        elif shape == "mixed" and index % 6 == 0:
            piece = rng.choice(SENTENCES)
        elif index % 7 == 0:
            piece = previous  # a duplicate (TG004)
        else:
            words = FIXABLE if shape in ("tags", "mixed") else PLAIN
            piece = f"{rng.choice(words)} {index}"
            previous = piece
        if shape == "mixed" and index % 40 == 0:
            sep = ",\n"
        parts.append(piece)
        parts.append(sep)
        total += len(piece) + len(sep)
    return "".join(parts[:-1])


def stages() -> dict[str, Callable[[str], object]]:
    return {
        "parse": anima_caption.parse,
        "format": anima_caption.format,
        "lint": anima_caption.lint,
        "fix": anima_caption.fix,
        "convert": lambda text: anima_caption.convert(text, dialect="sdxl"),
    }


def cpu_seconds(function: Callable[[str], object], text: str, budget: float = 0.3) -> float:
    """Best CPU time of one call, repeated while the total stays under ``budget``."""
    best = float("inf")
    spent = 0.0
    runs = 0
    while runs < 2 or (spent < budget and runs < 20):
        start = time.process_time()
        function(text)
        took = time.process_time() - start
        best = min(best, took)
        spent += took
        runs += 1
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-kb", type=float, default=8.0, help="the 1× size (default 8)")
    parser.add_argument("--shape", action="append", help="tags, prose, mixed, plain")
    parser.add_argument("--stage", action="append", help="parse, format, lint, fix, convert")
    args = parser.parse_args()
    shapes = args.shape or ["tags", "prose", "mixed", "plain"]
    table = stages()
    chosen = args.stage or list(table)
    for name in chosen:  # warm up: imports, caches, lazily built models
        table[name](make_caption("mixed", 2000))
    print(f"base size {args.base_kb:g} KB; ms per KB at " + " / ".join(f"{s}×" for s in SIZES)
          + "; ratio to 1× (linear ≈ 1)")
    worst = 0.0
    for shape in shapes:
        texts = [make_caption(shape, int(args.base_kb * 1000 * s)) for s in SIZES]
        for name in chosen:
            per_kb = []
            for text in texts:
                kb = len(text.encode("utf-8")) / 1000
                per_kb.append(cpu_seconds(table[name], text) * 1000 / kb)
            ratios = [p / per_kb[0] for p in per_kb]
            worst = max(worst, ratios[-1])
            cells = " / ".join(f"{p:7.3f}" for p in per_kb)
            shown = " / ".join(f"{r:5.2f}" for r in ratios[1:])
            print(f"{shape:6} {name:8} {cells}  ratio {shown}")
    print(f"worst ratio at {SIZES[-1]}×: {worst:.2f}")


if __name__ == "__main__":
    main()
