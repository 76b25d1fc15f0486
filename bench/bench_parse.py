"""Benchmark: parse and format throughput on realistic captions, and import time.

Generates N captions (default 100,000) with ~30 tags sampled from the real Danbooru list
in ../shared/data/tags (underscored, capitalised, escaped and weighted variants included)
and 0–3 natural-language sentences each, then measures on one core:

* the baseline ``[t.strip() for t in s.split(",")]`` over the same captions,
* ``anima_caption.parse`` (full typed model built, no tag database),
* ``anima_caption.format``,
* ``python -c "import anima_caption"`` wall time (best of 5).

Throughput is CPU time of this one process (``time.process_time``), so other work on a busy
machine does not count against it; it is also given as a ratio against the baseline
measured in the same run. Every figure says which modules it measured:

* ``pure``: the modules of this checkout as Python source (what an editable install runs);
* ``compiled``: the mypyc-compiled wheel that ``pip install .`` builds where a C compiler
  is available (``hatch_build.py``). With ``--compiled`` (or ``--both``) the benchmark
  builds that wheel (``ANIMA_CAPTION_MYPYC=1``, needs mypy, setuptools and hatchling in
  this environment, ~30 s), installs it with ``pip install --target`` into a temporary
  folder and measures it in a child process.

Run: ``python bench/bench_parse.py [N] [--pure | --compiled | --both]`` (default ``--pure``).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
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
TARGET = 20_000


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


def cpu_seconds(fn: Callable[[str], object], captions: list[str]) -> float:
    start = time.process_time()
    for text in captions:
        fn(text)
    return time.process_time() - start


def measure(n: int) -> None:
    """Measure the ``anima_caption`` first on ``sys.path`` and print the figures."""
    import anima_caption
    import anima_caption._build as build

    compiled = not build.__file__.endswith(".py")
    label = "compiled" if compiled else "pure"
    where = Path(anima_caption.__file__).parent
    print(f"[{label}] modules: {'mypyc-compiled' if compiled else 'pure Python'} ({where})")
    captions = make_captions(n)
    chars = statistics.mean(len(c) for c in captions)
    items = statistics.mean(len(anima_caption.parse(c).items) for c in captions[:2000])
    print(f"[{label}] captions: {n:,}  mean length {chars:.0f} chars, {items:.1f} items")

    anima_caption.parse(captions[0])  # build the vocabulary and the lexer
    anima_caption.format(captions[0])
    baseline = cpu_seconds(lambda s: [t.strip() for t in s.split(",")], captions)
    parse = cpu_seconds(anima_caption.parse, captions)
    fmt = cpu_seconds(anima_caption.format, captions[: n // 4]) * 4
    for name, seconds in (("split baseline", baseline), ("parse", parse), ("format", fmt)):
        rate = n / seconds
        print(
            f"[{label}] {name:<15} {rate:>10,.0f} captions/s {seconds / n * 1e6:8.1f} us/caption"
            f" {seconds / baseline:6.1f}x baseline time"
        )
    verdict = "met" if n / parse >= TARGET else "NOT met"
    print(f"[{label}] parse target {TARGET:,} captions/s on one core: {verdict}")


def import_time(path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(path)}
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import anima_caption"], check=True, env=env)
        runs.append(time.perf_counter() - start)
    empty = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        empty.append(time.perf_counter() - start)
    print(
        f"python -c 'import anima_caption' ({path}): {min(runs) * 1000:.0f} ms "
        f"(bare interpreter {min(empty) * 1000:.0f} ms; target 150 ms)"
    )


def build_compiled(into: Path) -> Path:
    """Build the compiled wheel from this checkout and install it under ``into``."""
    env = {**os.environ, "ANIMA_CAPTION_MYPYC": "1"}
    wheels = into / "wheel"
    target = into / "site"
    print("building the mypyc-compiled wheel (ANIMA_CAPTION_MYPYC=1) ...", flush=True)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(REPO)],
        check=True,
        env=env,
    )  # fmt: skip
    wheel = next(wheels.glob("anima_caption-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--root-user-action=ignore",
         "--target", str(target), str(wheel)],
        check=True,
    )  # fmt: skip
    print(f"built {wheel.name} in {time.perf_counter() - start:.0f} s", flush=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="number of captions")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--pure", action="store_true", help="measure the checkout (default)")
    which.add_argument("--compiled", action="store_true", help="build and measure the wheel")
    which.add_argument("--both", action="store_true", help="measure both, one after the other")
    parser.add_argument("--measure-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure_only is not None:  # child process: measure what is at that path
        sys.path.insert(0, str(args.measure_only))
        measure(args.n)
        return
    if not args.compiled:
        sys.path.insert(0, str(REPO))
        measure(args.n)
        import_time(REPO)
    if args.compiled or args.both:
        with tempfile.TemporaryDirectory(prefix="anima-bench-") as tmp:
            target = build_compiled(Path(tmp))
            subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), str(args.n),
                 "--measure-only", str(target)],
                check=True,
            )  # fmt: skip
            import_time(target)


if __name__ == "__main__":
    main()
