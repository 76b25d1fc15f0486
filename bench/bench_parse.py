"""Benchmark: parse and format throughput on realistic captions, and import time.

Generates N captions (default 100,000) with ~30 tags sampled from the real Danbooru list
in ../shared/data/tags (underscored, capitalised, escaped and weighted variants included)
and 0–3 natural-language sentences each, then measures on one core:

* the baseline ``[t.strip() for t in s.split(",")]`` over the same captions,
* ``anima_caption.parse`` (full typed model built, no tag database),
* ``anima_caption.format``,
* ``python -c "import anima_caption"`` wall time (best of 5).

Throughputs are reported in captions/s and as ratios against the baseline measured in the
same run, since this machine's speed varies. Run: ``python bench/bench_parse.py [N]``.
"""

from __future__ import annotations

import csv
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import anima_caption  # noqa: E402

TAGS_CSV = REPO.parent / "shared" / "data" / "tags" / "danbooru.csv"
SENTENCES = [
    "A close-up portrait of a young girl with an angry expression looking at the viewer.",
    "Her side ponytail with a blue scrunchie is visible on the right side of the image, "
    "and a small antenna of hair rises from the top of her head.",
    "She stands in the rain, holding a red umbrella, and looks over her shoulder.",
    "The background is a quiet classroom lit by the afternoon sun.",
    "Two cats sleep on a sunny windowsill.",
]
PREFIXES = ["masterpiece, best quality, score_7, safe", "newest, safe", "score_9, score_8_up"]


def load_tags() -> list[str]:
    if not TAGS_CSV.exists():
        sys.exit(f"real tag data not found at {TAGS_CSV}; run from a checkout with ../shared")
    with TAGS_CSV.open(encoding="utf-8", newline="") as handle:
        return [row[0] for row, _ in zip(csv.reader(handle), range(20000), strict=False)]


def make_captions(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    tags = load_tags()
    out = []
    for _ in range(n):
        items = [rng.choice(PREFIXES), "1girl"]
        for _ in range(rng.randint(24, 34)):
            tag = rng.choice(tags)
            roll = rng.random()
            if roll < 0.5:
                tag = tag.replace("_", " ")
            elif roll < 0.55:
                tag = tag.replace("_", " ").title()
            elif roll < 0.58 and tag[:1].isalnum():
                tag = f"({tag.replace('_', ' ')}:1.2)"
            elif roll < 0.6:
                tag = tag.replace("(", "\\(").replace(")", "\\)")
            items.append(tag)
        for _ in range(rng.randint(0, 3)):
            items.insert(rng.randint(2, len(items)), rng.choice(SENTENCES))
        out.append(", ".join(items))
    return out


def timed(fn, captions: list[str]) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for text in captions:
        fn(text)
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    captions = make_captions(n)
    chars = statistics.mean(len(c) for c in captions)
    items = statistics.mean(len(anima_caption.parse(c).items) for c in captions[:2000])
    print(f"captions: {n:,}  mean length {chars:.0f} chars, {items:.1f} items")

    anima_caption.parse(captions[0])  # build caches
    anima_caption.format(captions[0])
    baseline = timed(lambda s: [t.strip() for t in s.split(",")], captions)
    parse = timed(anima_caption.parse, captions)
    fmt = timed(anima_caption.format, captions[: n // 4]) * 4
    for name, seconds in (("split baseline", baseline), ("parse", parse), ("format", fmt)):
        rate = n / seconds
        print(f"{name:<15} {rate:>12,.0f} captions/s   {seconds / baseline:6.1f}x baseline time")
    print(f"parse target 20,000 captions/s: {'met' if n / parse >= 20_000 else 'NOT met'}")

    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import anima_caption"], check=True)
        runs.append(time.perf_counter() - start)
    empty = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        empty.append(time.perf_counter() - start)
    print(
        f"python -c 'import anima_caption': {min(runs) * 1000:.0f} ms "
        f"(bare interpreter {min(empty) * 1000:.0f} ms; target 150 ms)"
    )


if __name__ == "__main__":
    main()
