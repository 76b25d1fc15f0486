"""Benchmark: ``anima-caption check`` throughput, memory and cold start.

1. Throughput. Builds (or reuses, with --db) the full tag database from ../shared/data/tags,
   then, for two kinds of dataset of N caption files (default 100,000), each in a fresh
   process (so that peak memory is the run's own):
   * ``anima``: captions already in Anima's format (quality/score/safety prefix, a
     character, an ``@artist``, 22-30 general tags from the 20,000 most used Danbooru tags,
     0-2 sentences) -- what a dataset looks like once it is maintained with this tool;
   * ``sdxl``: the parse benchmark's captions, full of SDXL-era habits (underscores,
     weights, escapes, capitalised tags; ~17 diagnostics per file) -- the worst case;
   it measures, in the same process:
   * the baseline: reading and decoding every file (no parsing, no rules),
   * ``check`` over all files with the full database, as ``Checker.run`` (what the
     command does before printing): files/s (wall clock), CPU time per file of the main
     process and of the workers, peak RSS of the main process and of the largest worker.
2. Cold start: ``anima-caption check`` of a 53-file dataset in a fresh process, as
   pre-commit runs it: a first-ever run (empty user cache folder), then the best of 5.

By default the checkout is measured as it is (pure Python, as an editable install runs).
``--compiled`` builds the wheel ``pip install .`` builds where a C compiler is available
(parse and format compiled with mypyc, see ``hatch_build.py``) and measures that.

Run: ``python bench/bench_check.py [N] [--db PATH] [--jobs J] [--kinds anima,sdxl]
[--no-cold] [--compiled]``.
"""

from __future__ import annotations

import argparse
import json
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

from bench_parse import build_compiled, make_captions  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "tags"
SENTENCES = [
    "A close-up portrait of a young girl looking at the viewer.",
    "She stands in the rain, holding a red umbrella, and looks over her shoulder.",
    "The background is a quiet classroom lit by the afternoon sun.",
]
TARGET_RATE = 5000
TARGET_RSS_MB = 1536
TARGET_COLD_MS = 400


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


KINDS = {"anima": make_anima_captions, "sdxl": make_captions}


def build_db(target: Path) -> Path:
    from anima_caption._tagdb import build_database

    build_database(
        target,
        [DATA / "danbooru_tags_full_2025-09-24.csv", DATA / "danbooru.csv"],
        aliases=[DATA / "danbooru_aliases.csv"],
        implications=[DATA / "danbooru_implications.csv"],
    )
    return target


def measure_one(kind: str, n: int, db: Path, jobs: int, work: Path) -> dict[str, float]:
    """One kind's throughput figures (run in a process of its own)."""
    dataset = work / f"dataset-{kind}"
    dataset.mkdir()
    for i, text in enumerate(KINDS[kind](n)):
        (dataset / f"{i:06d}.txt").write_text(text + "\n", encoding="utf-8")

    from anima_caption._check._configfile import RuleSelection, config_for
    from anima_caption._check._engine import Checker
    from anima_caption._io import iter_caption_files, read_caption_file
    from anima_caption._tagdb import TagDB

    start = time.perf_counter()
    for path in iter_caption_files([dataset]):
        read_caption_file(path)
    baseline = time.perf_counter() - start

    loaded = config_for(dataset, None)
    checker = Checker(loaded, TagDB.open(db), RuleSelection.from_config(loaded.config, None, None))
    cpu = time.process_time()
    start = time.perf_counter()
    result = checker.run([str(dataset)], jobs=jobs)
    elapsed = time.perf_counter() - start
    main_cpu = time.process_time() - cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "baseline_rate": n / baseline,
        "rate": n / elapsed,
        "seconds": elapsed,
        "main_cpu_us": main_cpu / n * 1e6,
        "worker_cpu_us": (children.ru_utime + children.ru_stime) / n * 1e6,
        "diagnostics_per_file": len(result.records) / n,
        "rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_worker_mb": children.ru_maxrss / 1024,
    }


def cold_start(kind: str, db: Path, work: Path, env: dict[str, str]) -> tuple[float, float]:
    """(first-ever run, best of 5) in ms for ``check`` of 53 files in a fresh process."""
    small = work / f"small-{kind}"
    small.mkdir()
    for i, text in enumerate(KINDS[kind](53, seed=11)):
        (small / f"kanachan_{i:02d}.txt").write_text(text + "\n", encoding="utf-8")
    cache = work / f"cache-{kind}"  # an empty user cache folder: the first run fills it
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
            env={**env, "ANIMA_CAPTION_CACHE_DIR": str(cache)},
        )
        runs.append(time.perf_counter() - start)
    return runs[0] * 1000, min(runs[1:]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--db")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0: automatic)")
    parser.add_argument("--kinds", default="anima,sdxl")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-start runs")
    parser.add_argument("--compiled", action="store_true", help="build and measure the wheel")
    parser.add_argument("--site", help=argparse.SUPPRESS)  # internal: where the build is
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one kind
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.site:
        sys.path.insert(0, args.site)
    if args.one:
        figures = measure_one(args.one, args.n, Path(args.db), args.jobs, Path(args.work))
        print(json.dumps(figures))
        return

    work = Path(tempfile.mkdtemp(prefix="anima-bench-"))
    try:
        db = Path(args.db) if args.db else build_db(work / "tags.sqlite")
        env = dict(os.environ)
        site: list[str] = []
        if args.compiled:
            target = build_compiled(work / "build")
            site = ["--site", str(target)]
            env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
        print("build measured:", "compiled wheel (mypyc)" if args.compiled else "the checkout")
        for kind in args.kinds.split(","):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    str(args.n),
                    "--one",
                    kind,
                    "--db",
                    str(db),
                    "--jobs",
                    str(args.jobs),
                    "--work",
                    str(work),
                    *site,
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            f = json.loads(out.splitlines()[-1])
            ideal = 2e6 / (f["main_cpu_us"] + f["worker_cpu_us"])
            rss_ok = max(f["rss_main_mb"], f["rss_worker_mb"]) <= TARGET_RSS_MB
            print(
                f"[{kind}] {args.n:,} files, {f['diagnostics_per_file']:.1f} diagnostics per file"
            )
            print(f"  read+decode baseline {f['baseline_rate']:>9,.0f} files/s")
            print(
                f"  check (full db)      {f['rate']:>9,.0f} files/s   ({f['seconds']:.1f} s; "
                f"{f['baseline_rate'] / f['rate']:.1f}x the baseline's time)   "
                f"target {TARGET_RATE:,}: {'met' if f['rate'] >= TARGET_RATE else 'NOT met'}"
            )
            print(
                f"  CPU per file: main {f['main_cpu_us']:.0f} us, workers "
                f"{f['worker_cpu_us']:.0f} us (2 cores fully used: {ideal:,.0f} files/s)"
            )
            print(
                f"  peak RSS: main {f['rss_main_mb']:,.0f} MB, largest worker "
                f"{f['rss_worker_mb']:,.0f} MB   target {TARGET_RSS_MB:,} MB: "
                f"{'met' if rss_ok else 'NOT met'}"
            )
        if not args.no_cold:
            for kind in args.kinds.split(","):
                first, best = cold_start(kind, db, work, env)
                print(
                    f"[{kind}] cold check of 53 files: first-ever run {first:.0f} ms, then best "
                    f"of 5 {best:.0f} ms   target {TARGET_COLD_MS} ms: "
                    f"{'met' if best <= TARGET_COLD_MS else 'NOT met'}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
