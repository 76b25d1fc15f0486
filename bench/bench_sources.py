"""Benchmark: dataset sources at scale, and the batch API.

1. A Danbooru-style parquet of N posts (default 1,000,000; ``tag_string_general`` with
   20-30 of the 20,000 most used real general tags, 0-2 characters and series, 0-1 artist,
   1-3 meta tags, a rating), written once with pyarrow. Each measurement runs in a fresh
   process (its peak RSS is its own):
   * baseline: reading the six columns a row group at a time into Python lists (what
     every run over the file pays before doing anything);
   * ``anima-caption convert posts.parquet --from danbooru --out anima.parquet``;
   * ``anima-caption check posts.parquet`` (captions built from the columns, every
     caption rule and the dataset rules, the full database; the report goes to
     /dev/null in the concise format).
   Rows/s, ratio to the baseline, peak RSS.
2. ``Linter.lint_many`` per caption against the engine's own per-file cost: the same
   captions as caption files checked by ``Checker.run`` (serial, one process) and as
   texts through ``lint_many`` (and ``records_many``, the compact form).

Run: ``python bench/bench_sources.py [N] [--db PATH] [--lint-n M] [--skip-check]``.
Needs pyarrow and the real tag list in ../shared/data/tags (for the tags; the database
defaults to the user cache one).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from itertools import accumulate
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TAGS = REPO.parent / "shared" / "data" / "tags" / "danbooru.csv"
DEFAULT_DB = Path.home() / ".cache" / "anima-caption" / "danbooru-tags.sqlite"
TARGET_CONVERT = 10_000
TARGET_CHECK = 5_000
TARGET_RSS_MB = 2048


def _tags_by_category() -> dict[int, list[str]]:
    out: dict[int, list[str]] = {0: [], 1: [], 3: [], 4: [], 5: []}
    with TAGS.open(encoding="utf-8") as handle:
        for row in csv.reader(handle):
            category = int(row[1])
            if category in out and len(out[category]) < 20_000:
                out[category].append(row[0])
    return out


def make_posts(path: Path, n: int, seed: int = 7) -> None:
    """Write ``n`` Danbooru-style posts to ``path`` (row groups of 65,536)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    tags = _tags_by_category()
    general = [t for t in tags[0] if t not in ("1girl", "1boy", "solo")][:20_000]
    counts = ["1girl", "1girl", "1girl", "1boy", "2girls", "multiple_girls", "no_humans"]
    characters, series, artists = tags[4][:5000], tags[3][:2000], tags[1][:8000]
    meta = tags[5][:200]
    cumulative = list(accumulate(1 / (i + 10) for i in range(len(general))))
    writer = None
    group = 65_536
    for start in range(0, n, group):
        size = min(group, n - start)
        cols: dict[str, list[object]] = {k: [] for k in ("id", "rating")}
        for key in ("general", "character", "copyright", "artist", "meta"):
            cols[f"tag_string_{key}"] = []
        for i in range(size):
            picked = set(rng.choices(general, cum_weights=cumulative, k=rng.randint(20, 30)))
            cols["tag_string_general"].append(" ".join([rng.choice(counts), *sorted(picked)]))
            cols["tag_string_character"].append(" ".join(rng.sample(characters, rng.randint(0, 2))))
            cols["tag_string_copyright"].append(" ".join(rng.sample(series, rng.randint(0, 2))))
            cols["tag_string_artist"].append(" ".join(rng.sample(artists, rng.randint(0, 1))))
            cols["tag_string_meta"].append(" ".join(rng.sample(meta, rng.randint(1, 3))))
            cols["rating"].append(rng.choice("gsqe"))
            cols["id"].append(start + i)
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


_BASELINE = """
import sys, pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
cols = ["id", "rating"] + ["tag_string_" + k for k in ("general", "character", "copyright",
                                                      "artist", "meta")]
rows = 0
for g in range(f.num_row_groups):
    t = f.read_row_group(g, columns=cols)
    data = {c: t.column(c).to_pylist() for c in cols}
    rows += len(data["id"])
print(rows)
"""


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """``(wall s, CPU s, peak RSS MB)`` of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{argv} failed:\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def lint_many_vs_engine(db: Path | None, n: int, work: Path) -> None:
    """Per-caption cost of ``lint_many`` / ``records_many`` against ``Checker.run``."""
    from itertools import islice

    from anima_caption._check._api import Linter
    from anima_caption.datasets import open_source

    texts = [r.text for r in islice(open_source(work / "posts.parquet").records(), n)]
    folder = work / "files"
    folder.mkdir(exist_ok=True)
    for i, text in enumerate(texts):
        (folder / f"{i:07d}.txt").write_text(text, encoding="utf-8")
    linter = Linter(db=db)
    linter.records_many(texts[:2000])  # both warm: first-spelling costs paid once
    engine = Linter(db=db).checker
    engine.run([str(folder)], jobs=1)
    best: dict[str, float] = {}
    for _ in range(3):
        for name, call in (
            ("engine (files, serial)", lambda: engine.run([str(folder)], jobs=1)),
            ("records_many", lambda: linter.records_many(texts)),
            ("lint_many (models)", lambda: linter.lint_many(texts)),
        ):
            start = time.perf_counter()
            call()
            best[name] = min(best.get(name, 1e9), time.perf_counter() - start)
    base = best["engine (files, serial)"]
    print(f"\nper caption, {n:,} captions, best of 3 (warm checkers):")
    for name, seconds in best.items():
        print(f"  {name:<24} {seconds / n * 1e6:7.1f} µs   {seconds / base:5.2f}x the engine")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--lint-n", type=int, default=20_000)
    parser.add_argument("--skip-check", action="store_true")
    args = parser.parse_args()
    db = args.db if args.db.exists() else None
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp:
        work = Path(tmp)
        posts = work / "posts.parquet"
        start = time.perf_counter()
        make_posts(posts, args.n)
        size = posts.stat().st_size / 1e6
        print(f"{args.n:,} posts written in {time.perf_counter() - start:.1f} s ({size:.0f} MB)")
        env = dict(os.environ, ANIMA_CAPTION_CACHE_DIR=str(work / "cache"))
        if db is not None:
            env["ANIMA_CAPTION_TAGDB"] = str(db)
        py = sys.executable
        cli = [py, "-m", "anima_caption"]
        runs = [("baseline: read columns", [py, "-c", _BASELINE, str(posts)], None)]
        out = work / "anima.parquet"
        runs.append(
            ("convert --from danbooru", [*cli, "convert", str(posts), "--from", "danbooru",
                                         "--out", str(out)], TARGET_CONVERT)
        )  # fmt: skip
        if not args.skip_check:
            runs.append(
                ("check (full database)", [*cli, "check", str(posts), "--format", "concise",
                 "--output-file", os.devnull, "--no-progress"], TARGET_CHECK)
            )  # fmt: skip
        base_rate = 0.0
        print(f"\n{'run':<26} {'rows/s':>10} {'vs read':>8} {'CPU/row':>9} {'peak RSS':>9}")
        for name, argv, target in runs:
            wall, cpu, rss = run(argv, env)
            rate = args.n / wall
            base_rate = base_rate or rate
            verdict = "" if target is None else ("  ok" if rate >= target else f"  < {target:,}")
            memory = "" if target is None or rss <= TARGET_RSS_MB else f" > {TARGET_RSS_MB} MB"
            print(
                f"{name:<26} {rate:>10,.0f} {base_rate / rate:>7.1f}x "
                f"{cpu / args.n * 1e6:>7.1f}µs {rss:>7.0f}MB{verdict}{memory}"
            )
        lint_many_vs_engine(db, min(args.lint_n, args.n), work)


if __name__ == "__main__":
    main()
