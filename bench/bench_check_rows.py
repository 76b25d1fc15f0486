"""Benchmark: a warm ``Linter.lint_many`` over 20,000 Danbooru-shaped rows, this tree
against a baseline commit, in one run.

The rows are the captions ``bench_sources.make_posts`` builds (real Danbooru tags from
../shared/data/tags, read back through the parquet source). The baseline is the code of
``--base`` (default ``HEAD``) checked out with ``git worktree add`` into a temporary
folder; each side runs in its own process (``PYTHONPATH`` at its tree), warms its linter
with one full pass, then times the best of ``--repeat`` passes (CPU time); the sides
alternate ``--rounds`` times and each keeps its best. The diagnostics of both sides (JSON
of every ``Diagnostic``) must be byte-identical: the bench fails otherwise.

Run: ``python bench/bench_check_rows.py [N] [--base REV] [--db PATH] [--repeat K]
[--rounds R]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DB = Path.home() / ".cache" / "anima-caption" / "danbooru-tags.sqlite"

_SIDE = r"""
import json, sys, time
import anima_caption
from anima_caption._check._api import Linter
texts_path, db, repeat, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
texts = json.loads(open(texts_path, encoding="utf-8").read())
linter = Linter(db=db or None)
linter.lint_many(texts)  # warm: every spelling's first-time costs paid once
best = 1e9
for _ in range(repeat):
    start = time.process_time()
    found = linter.lint_many(texts)
    best = min(best, time.process_time() - start)
with open(out, "w", encoding="utf-8") as handle:
    for diagnostics in found:
        handle.write(json.dumps([d.model_dump(mode="json") for d in diagnostics]))
        handle.write("\n")
print(anima_caption.__file__)
print(best)
"""


def _side(tree: Path, texts: Path, db: str, repeat: int, out: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree))
    argv = [sys.executable, "-c", _SIDE, str(texts), db, str(repeat), str(out)]
    done = subprocess.run(argv, env=env, check=True, capture_output=True, text=True, cwd=tree)
    where, seconds = done.stdout.strip().splitlines()[-2:]
    assert Path(where).resolve().is_relative_to(tree.resolve()), where
    return float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=20_000)
    parser.add_argument("--base", default="HEAD")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from itertools import islice

    from bench_sources import make_posts

    from anima_caption.datasets import open_source

    db = str(args.db) if args.db.exists() else ""
    with tempfile.TemporaryDirectory(prefix="bench-check-rows-") as tmp:
        work = Path(tmp)
        make_posts(work / "posts.parquet", args.n)
        source = open_source(work / "posts.parquet")
        texts = [r.text for r in islice(source.records(), args.n)]
        listed = work / "texts.json"
        listed.write_text(json.dumps(texts), encoding="utf-8")
        base = work / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base), args.base],
            cwd=REPO, check=True, capture_output=True,
        )  # fmt: skip
        try:
            old = new = 1e9
            for _ in range(args.rounds):  # alternated: a busy machine slows both alike
                old = min(old, _side(base, listed, db, args.repeat, work / "old.jsonl"))
                new = min(new, _side(REPO, listed, db, args.repeat, work / "new.jsonl"))
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)], cwd=REPO, check=False
            )  # fmt: skip
        old_bytes = (work / "old.jsonl").read_bytes()
        new_bytes = (work / "new.jsonl").read_bytes()
        count = sum(len(json.loads(line)) for line in new_bytes.splitlines())
        passes = f"best of {args.repeat}x{args.rounds} warm passes (CPU)"
        print(f"{len(texts):,} rows, {count:,} diagnostics, {passes}")
        for name, seconds in ((f"base ({args.base})", old), ("this tree", new)):
            per = seconds / len(texts)
            print(f"  {name:<16} {per * 1e6:7.1f} µs/caption  {1 / per:8,.0f} rows/s")
        print(f"  ratio base/new   {old / new:.2f}x")
        digest = hashlib.sha256(new_bytes).hexdigest()[:16]
        if old_bytes != new_bytes:
            raise SystemExit("diagnostics differ between base and this tree")
        print(f"  diagnostics byte-identical (sha256 {digest})")


if __name__ == "__main__":
    main()
