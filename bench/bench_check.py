"""Benchmark: ``anima-caption check`` throughput and cold start.

1. Writes N caption files (default 100,000) into a temporary folder, builds (or reuses,
   with --db) the full tag database from ../shared/data/tags, then measures in the same run,
   for two kinds of dataset:
   * ``anima``: captions already in Anima's format (quality/score/safety prefix, a
     character, an ``@artist``, 22-30 general tags from the 20,000 most used Danbooru tags,
     0-2 sentences) -- what a dataset looks like once it is maintained with this tool;
   * ``sdxl``: the parse benchmark's captions, full of SDXL-era habits (underscores,
     weights, escapes, capitalised tags; ~17 diagnostics per file) -- the worst case;
   and for each:
   * the baseline: reading and decoding every file (no parsing, no rules),
   * ``check`` over all files with the full database (files/s and peak RSS).
2. Cold start: ``anima-caption check`` of a 53-file dataset in a fresh process (best of 5),
   as pre-commit runs it, for both kinds.

Run: ``python bench/bench_check.py [N] [--db PATH]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_parse import make_captions  # noqa: E402

SENTENCES = [
    "A close-up portrait of a young girl looking at the viewer.",
    "She stands in the rain, holding a red umbrella, and looks over her shoulder.",
    "The background is a quiet classroom lit by the afternoon sun.",
]


def make_anima_captions(n: int, seed: int = 3) -> list[str]:
    """Captions in Anima's format, tags from the most used real Danbooru tags."""
    import csv
    import random

    with (DATA / "danbooru.csv").open(encoding="utf-8", newline="") as handle:
        rows = [row for row, _ in zip(csv.reader(handle), range(20000), strict=False)]
    general = [
        r[0].replace("_", " ")
        for r in rows
        if r[1] == "0" and not any(c in r[0] for c in "()\\") and r[0] not in ("1girl", "solo")
    ]
    characters = [r[0].replace("_", " ") for r in rows if r[1] == "4"]
    artists = [r[0].replace("_", " ") for r in rows if r[1] == "1"]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        items = ["masterpiece", "best quality", "score_7", "safe", "1girl", "solo"]
        items += [rng.choice(characters), "@" + rng.choice(artists)]
        items += rng.sample(general, rng.randint(22, 30))
        items += [rng.choice(SENTENCES) for _ in range(rng.randint(0, 2))]
        out.append(", ".join(items))
    return out

DATA = REPO.parent / "shared" / "data" / "tags"


def build_db(target: Path) -> Path:
    from anima_caption._tagdb import build_database

    build_database(
        target,
        [DATA / "danbooru_tags_full_2025-09-24.csv", DATA / "danbooru.csv"],
        aliases=[DATA / "danbooru_aliases.csv"],
        implications=[DATA / "danbooru_implications.csv"],
    )
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--db")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0: automatic)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="anima-bench-"))
    try:
        db = Path(args.db) if args.db else build_db(work / "tags.sqlite")
        kinds = {"anima": make_anima_captions, "sdxl": make_captions}
        from anima_caption._check._configfile import RuleSelection, config_for
        from anima_caption._check._engine import Checker
        from anima_caption._io import iter_caption_files, read_caption_file
        from anima_caption._tagdb import TagDB

        for kind, make in kinds.items():
            dataset = work / f"dataset-{kind}"
            dataset.mkdir()
            for i, text in enumerate(make(args.n)):
                (dataset / f"{i:06d}.txt").write_text(text + "\n", encoding="utf-8")

            start = time.perf_counter()
            for path in iter_caption_files([dataset]):
                read_caption_file(path)
            baseline = time.perf_counter() - start

            loaded = config_for(dataset, None)
            checker = Checker(
                loaded, TagDB.open(db), RuleSelection.from_config(loaded.config, None, None)
            )
            start = time.perf_counter()
            result = checker.run([str(dataset)], jobs=args.jobs)
            elapsed = time.perf_counter() - start
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            rate = args.n / elapsed
            print(f"[{kind}] {args.n:,} files")
            print(f"  read+decode baseline {args.n / baseline:>10,.0f} files/s")
            print(
                f"  check (full db)      {rate:>10,.0f} files/s   "
                f"{elapsed / baseline:5.1f}x baseline time   "
                f"{len(result.diagnostics) / args.n:.1f} diagnostics per file"
            )
            print(
                f"  peak RSS: main {rss:,.0f} MB, largest worker {children:,.0f} MB "
                "(target 1,536 MB)"
            )
            print(f"  target 5,000 files/s: {'met' if rate >= 5000 else 'NOT met'}")
            shutil.rmtree(dataset)

        cache = work / "cache"  # the token-count cache starts empty: a first run
        for kind, make in kinds.items():
            small = work / f"small-{kind}"
            small.mkdir()
            for i, text in enumerate(make(53, seed=11)):
                (small / f"kanachan_{i:02d}.txt").write_text(text + "\n", encoding="utf-8")
            runs = []
            for _ in range(6):
                start = time.perf_counter()
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "anima_caption",
                        "check",
                        str(small),
                        "--db",
                        str(db),
                        "--exit-zero",
                        "--format",
                        "concise",
                        "--no-progress",
                    ],
                    check=True,
                    capture_output=True,
                    env={**os.environ, "ANIMA_CAPTION_CACHE_DIR": str(cache)},
                )
                runs.append(time.perf_counter() - start)
            print(
                f"[{kind}] cold check of 53 files: first run {runs[0] * 1000:.0f} ms, "
                f"then best of 5 {min(runs[1:]) * 1000:.0f} ms (target 400 ms)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
