"""Tag-database benchmark: build time, peak RSS, open time, lookups/s, suggestion latency.

Run from the repository root::

    python bench/bench_tagdb.py [--data ../shared/data/tags] [--out DIR]

Builds from ``danbooru_tags_full_2025-09-24.csv`` + aliases + implications (the issue's
targets: build ≤ 20 s and ≤ 1 GB peak RSS, open ≤ 50 ms, ≥ 200,000 exact lookups/s warm,
suggestion median ≤ 20 ms) and prints one line per figure. The build runs in a child
process so its peak RSS is measured on its own.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "tags"
FILES = (
    "danbooru_tags_full_2025-09-24.csv",
    "danbooru_aliases.csv",
    "danbooru_implications.csv",
)
SPEC_UNKNOWN = [
    "left side ponytail",
    "double parted bangs",
    "front view",
    "semi-long hair",
    "reddish brown blazer",
    "action shot",
    "white collared shirt",
    "brown blazer",
    "bangs",
    "plaid",
    "red footwear",
    "general",
    "questionable",
]

_CHILD = """
import resource, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from anima_caption._tagdb import build_database
d = Path({data!r})
t = time.perf_counter()
build_database(Path({target!r}), [d / {full!r}], aliases=[d / {aliases!r}],
               implications=[d / {impl!r}])
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _typo(rng: random.Random, name: str) -> str:
    i = rng.randrange(len(name))
    op = rng.choice("dis")
    if op == "d" and len(name) > 4:
        return name[:i] + name[i + 1 :]
    if op == "i":
        return name[:i] + rng.choice("aeiourstn") + name[i:]
    return name[:i] + rng.choice("aeiourstn") + name[i + 1 :]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=None, help="keep the database here")
    parser.add_argument("--samples", type=int, default=300, help="suggestion queries to time")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of batch lookups to time")
    args = parser.parse_args()
    data = args.data.resolve()
    if not all((data / f).is_file() for f in FILES):
        print(f"skipped: real Danbooru data not found in {data} (need {', '.join(FILES)})")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="bench-tagdb-"))
    target = (args.out or workdir) / "danbooru-tags.sqlite"
    target.parent.mkdir(parents=True, exist_ok=True)

    code = _CHILD.format(
        repo=str(REPO),
        data=str(data),
        target=str(target),
        full=FILES[0],
        aliases=FILES[1],
        impl=FILES[2],
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    build_s, rss_kb = child.stdout.split()
    print(f"build:            {float(build_s):.1f} s  (target ≤ 20 s)")
    print(f"build peak RSS:   {int(rss_kb) / 1024:.0f} MB  (target ≤ 1024 MB)")
    print(f"database size:    {target.stat().st_size / 1e6:.1f} MB")

    sys.path.insert(0, str(REPO))
    from anima_caption._tagdb import TagDB

    opens = []
    for _ in range(20):
        t = time.perf_counter()
        db = TagDB.open(target)
        opens.append(time.perf_counter() - t)
        db.close()
    print(
        f"open:             {statistics.median(opens) * 1000:.1f} ms median of 20"
        f"  (first {opens[0] * 1000:.1f} ms; target ≤ 50 ms)"
    )

    db = TagDB.open(target)
    conn = db._conn
    assert conn is not None
    names = [r[0] for r in conn.execute("SELECT name FROM tag")]
    rng = random.Random(7)

    def workload(size: int) -> list[str]:
        """``size`` distinct tags, every other one written with underscores, plus 10%
        unknown tags: names no batch has asked for before (no answer cached)."""
        sample = rng.sample(names, size)
        queries = [n.replace(" ", "_") if i % 2 else n for i, n in enumerate(sample)]
        return queries + [q + " x" for q in queries[: size // 10]]

    t = time.perf_counter()
    db.lookup_many(workload(1000))  # warm-up on other tags: loads the alias/implication maps
    first_batch = time.perf_counter() - t
    print(f"first batch:      {first_batch * 1000:.0f} ms (loads the alias/implication maps)")
    category_rates: list[float] = []
    info_rates: list[float] = []
    for _ in range(args.rounds):
        queries = workload(200_000)
        t = time.perf_counter()
        cats = db.categories(queries)
        category_rates.append(len(queries) / (time.perf_counter() - t))
        t = time.perf_counter()
        infos = db.lookup_many(queries)  # same names: SQLite's pages warm, no answer cached
        info_rates.append(len(infos) / (time.perf_counter() - t))
        del infos
    not_tags = sum(c is None for c in cats)
    print(
        f"lookups (category, batch):     {statistics.median(category_rates):,.0f} /s median of "
        f"{args.rounds} rounds (best {max(category_rates):,.0f}) over {len(queries):,} distinct "
        f"names, {not_tags:,} unknown  (target ≥ 200,000/s)"
    )
    info_rate, category_rate = statistics.median(info_rates), statistics.median(category_rates)
    print(
        f"lookups (full TagInfo, batch): {info_rate:,.0f} /s median (best {max(info_rates):,.0f}); "
        f"{info_rate / category_rate:.2f}× the category rate of the same rounds  "
        "(target ≥ 200,000/s)"
    )
    # Captions repeat tags: 200,000 lookups drawn from 20,000 tags (answers are cached).
    common = rng.sample(names, 20_000)
    repeated = rng.choices(common, weights=[1 / (i + 1) for i in range(len(common))], k=200_000)
    t = time.perf_counter()
    db.lookup_many(repeated)
    dt = time.perf_counter() - t
    print(f"lookups (full TagInfo, batch, repeated tags): {len(repeated) / dt:,.0f} /s")
    single = workload(50_000)[:50_000]
    t = time.perf_counter()
    for q in single:
        db.lookup(q)
    dt = time.perf_counter() - t
    print(f"lookups (one at a time):    {len(single) / dt:,.0f} /s")

    fresh = TagDB.open(target)
    t = time.perf_counter()
    fresh.suggest("left side ponytial")
    first = time.perf_counter() - t
    general = [
        n
        for n, c in conn.execute(
            "SELECT name, category FROM tag WHERE category = 0 AND post_count >= 100"
        )
    ]
    unknown = [_typo(rng, n) for n in rng.sample(general, args.samples // 2)]
    unknown += [_typo(rng, n) for n in rng.sample(names, args.samples // 2)]
    unknown = [u for u in unknown if not db.lookup(u).known] + SPEC_UNKNOWN
    times = []
    hits = 0
    for q in unknown:
        t = time.perf_counter()
        found = fresh.suggest(q)
        times.append(time.perf_counter() - t)
        hits += bool(found)
    times.sort()
    print(
        f"suggestion:       {statistics.median(times) * 1000:.1f} ms median, "
        f"p90 {times[int(len(times) * 0.9)] * 1000:.1f} ms over {len(times)} unknown tags "
        f"({hits} with suggestions); first call {first * 1000:.0f} ms  (target ≤ 20 ms median)"
    )
    print(
        f"peak RSS (this process, 925k names loaded for sampling): "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
