"""Benchmark: the dataset rules (DS001-DS006) over 100,000 captions, old versus new.

Builds the ``DatasetEntry`` list that ``anima-caption check`` hands to the dataset rules,
for N captions (default 100,000) of each kind used by ``bench_check.py``:

* ``anima``: captions in Anima's format (``bench_check.make_anima_captions``),
* ``sdxl``: the parse benchmark's SDXL-era captions (``bench_parse.make_captions``),

each parsed with ``anima_caption.parse`` and the full tag database as lookup, turned into
entries by ``DatasetEntry.of`` exactly as the check workers do. File names are realistic
for a LoRA dataset: 45% numbered (``000123``), 54% named after the trigger and one of the
caption's tags (``kanachan_long_hair_000123``), 1% after a tag of another caption (a
swapped caption), with an image beside each caption.

Then times, in CPU time of this process (``time.process_time``; other work on a busy
machine does not count), all six dataset rules together -- the reference implementation
kept in ``tests/check/test_dataset_rules_scale.py`` (the rules before the posting index)
and the current rules -- with and without the database, and checks both report the same
findings. Prints microseconds per caption file.

Run: ``python bench/bench_dataset_rules.py [N] [--db PATH] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import random
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_check import make_anima_captions  # noqa: E402
from bench_parse import make_captions  # noqa: E402

from anima_caption import parse  # noqa: E402
from anima_caption._check._config import CheckConfig  # noqa: E402
from anima_caption._check._context import (  # noqa: E402
    CaptionContext,
    DatasetContext,
    DatasetEntry,
)
from anima_caption._check._registry import Finding  # noqa: E402
from anima_caption._tagdb import TagDB  # noqa: E402
from tests.check.test_dataset_rules_scale import REFERENCE  # noqa: E402

Rules = Callable[[DatasetContext], Iterable[Finding]]

ROOT = Path("/datasets/kanachan")


def make_entries(texts: list[str], db: TagDB, seed: int = 11) -> list[DatasetEntry]:
    """Parse each caption with the database and make its entry as ``anima-caption check``
    does: ``DatasetEntry.of`` with one summary memo for the run (one summary object per
    tag spelling, as the engine keeps them)."""
    rng = random.Random(seed)
    config = CheckConfig()
    takes_memo = "memo" in inspect.signature(DatasetEntry.of).parameters
    memo: dict[str, object] = {}
    entries: list[DatasetEntry] = []
    previous = "smile"
    for i, text in enumerate(texts):
        caption = parse(text, lookup=db)
        tags = [t.text for t in caption.tags if not t.kaomoji and t.text.isascii()]
        roll = rng.random()
        if roll < 0.45 or not tags:
            stem = f"{i:06d}"
        elif roll < 0.99:
            stem = f"kanachan_{rng.choice(tags).replace(' ', '_')}_{i:06d}"
        else:
            stem = f"kanachan_{previous.replace(' ', '_')}_{i:06d}"
        if tags:
            previous = rng.choice(tags)
        path = ROOT / f"{stem}.txt"
        ctx = CaptionContext(path, str(path), config, db, caption=caption)
        of = DatasetEntry.of
        entries.append(of(ctx, memo) if takes_memo else of(ctx))  # type: ignore[call-arg]
    return entries


def timed(
    rules: list[tuple[str, Rules]], make_ctx: Callable[[], DatasetContext], repeat: int
) -> tuple[float, dict[str, float], list[tuple[str, Finding]]]:
    """CPU seconds of all ``rules`` run one after the other on one context (best of
    ``repeat``, a fresh context each time, so nothing computed carries over), CPU seconds
    per rule of the best run, and the findings."""
    best = float("inf")
    per_rule: dict[str, float] = {}
    findings: list[tuple[str, Finding]] = []
    for _ in range(repeat):
        ctx = make_ctx()
        gc.collect()
        times: dict[str, float] = {}
        out: list[tuple[str, Finding]] = []
        for code, rule in rules:
            start = time.process_time()
            out.extend((code, f) for f in rule(ctx))
            times[code] = time.process_time() - start
        total = sum(times.values())
        if total < best:
            best, per_rule, findings = total, times, out
    return best, per_rule, findings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/tags.sqlite"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.db.exists():
        sys.exit(f"tag database not found at {args.db}; build it with bench/bench_check.py")
    db = TagDB.open(args.db)
    n: int = args.n
    # `anima-caption check` runs the dataset rules with these collection thresholds (many
    # small objects are alive; full collections would rescan them all every few thousand
    # allocations).
    gc.set_threshold(50_000, 1000, 1000)
    old_rules: list[tuple[str, Rules]] = [(rule.code, ref) for ref, rule in REFERENCE]
    new_rules: list[tuple[str, Rules]] = [
        (rule.code, rule().check_dataset) for _, rule in REFERENCE
    ]
    print(f"{n:,} caption files per dataset; CPU µs per file, best of {args.repeat}")
    for kind, make in (("anima", make_anima_captions), ("sdxl", make_captions)):
        start = time.process_time()
        entries = make_entries(make(n), db)
        built = time.process_time() - start
        print(f"\n{kind}: {n:,} entries built in {built:.0f} s CPU")
        for label, lookup in (("DB", db), ("no DB", None)):
            for with_images in (True, False):
                images = [e.path.with_suffix(".png") for e in entries] if with_images else []

                def make_ctx(
                    lookup: TagDB | None = lookup,
                    images: list[Path] = images,
                    entries: list[DatasetEntry] = entries,
                ) -> DatasetContext:
                    return DatasetContext(
                        captions=list(entries), images=list(images), roots=[ROOT], db=lookup
                    )

                old_s, old_rule, old = timed(old_rules, make_ctx, args.repeat)
                new_s, new_rule, new = timed(new_rules, make_ctx, args.repeat)
                same = "identical" if old == new else "DIFFERENT"
                where = f"{label}, {'images' if with_images else 'no images'}"
                print(
                    f"  {where:18} old {us(old_s, n)}  new {us(new_s, n)}  x{old_s / new_s:4.1f}"
                    f"  {len(new):,} findings ({same})"
                )
                found = dict.fromkeys(new_rule, 0)
                for code, _ in new:
                    found[code] += 1
                print("    findings per rule:", ", ".join(f"{c} {k:,}" for c, k in found.items()))
                print(
                    "    per rule (old -> new):",
                    ", ".join(
                        f"{code} {us(old_rule[code], n)} -> {us(new_rule[code], n)}"
                        for code in new_rule
                    ),
                )


def us(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e6:5.1f}"


if __name__ == "__main__":
    main()
