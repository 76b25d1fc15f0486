"""Benchmark: ``anima-caption check`` throughput and cold start.

1. Writes N caption files (default 100,000; realistic captions from bench_parse) into a
   temporary folder, builds (or reuses, with --db) the full tag database from
   ../shared/data/tags, then measures in the same run:
   * the baseline: reading and decoding every file (no parsing, no rules),
   * ``check`` over all files with the full database (files/s and peak RSS).
2. Cold start: ``anima-caption check`` of a 53-file dataset in a fresh process (best of 5),
   as pre-commit runs it.

Run: ``python bench/bench_check.py [N] [--db PATH]``.
"""

from __future__ import annotations

import argparse
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
        dataset = work / "dataset"
        dataset.mkdir()
        for i, text in enumerate(make_captions(args.n)):
            (dataset / f"{i:06d}.txt").write_text(text + "\n", encoding="utf-8")
        print(f"files: {args.n:,}")

        from anima_caption._io import iter_caption_files, read_caption_file

        start = time.perf_counter()
        for path in iter_caption_files([dataset]):
            read_caption_file(path)
        baseline = time.perf_counter() - start

        from anima_caption._check._configfile import RuleSelection, config_for
        from anima_caption._check._engine import Checker
        from anima_caption._tagdb import TagDB

        loaded = config_for(dataset, None)
        checker = Checker(
            loaded, TagDB.open(db), RuleSelection.from_config(loaded.config, None, None)
        )
        start = time.perf_counter()
        result = checker.run([str(dataset)], jobs=args.jobs)
        elapsed = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"read+decode baseline {args.n / baseline:>10,.0f} files/s")
        print(
            f"check (full db)      {args.n / elapsed:>10,.0f} files/s   "
            f"{elapsed / baseline:5.1f}x baseline time   {len(result.diagnostics):,} diagnostics"
        )
        print(f"peak RSS: main {rss:,.0f} MB, largest worker {children:,.0f} MB (target 1,536 MB)")
        print(f"check target 5,000 files/s: {'met' if args.n / elapsed >= 5000 else 'NOT met'}")

        small = work / "small"
        small.mkdir()
        for i, text in enumerate(make_captions(53, seed=3)):
            (small / f"kanachan_{i:02d}.txt").write_text(text + "\n", encoding="utf-8")
        runs = []
        for _ in range(5):
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
            )
            runs.append(time.perf_counter() - start)
        print(f"cold check of 53 files: {min(runs) * 1000:.0f} ms best of 5 (target 400 ms)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
