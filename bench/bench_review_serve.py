"""Benchmark: opening a 5,000-image dataset in ``anima-caption review serve``.

Builds N small images (default 5,000 PNGs of 96×72 pixels) with Anima-style captions, then
measures, against a real uvicorn server on 127.0.0.1 (HTTP from this process, as the
page's script asks):

* **first usable page**: from creating the session (walk, pairing, checker) until the page
  HTML, the first 100 cards' metadata and the thumbnails of the first 24 cards (a screen)
  have been answered, with an empty thumbnail cache (each made from the image) — what the
  reviewer waits for before the first screen is drawn;
* **all card metadata**: until every card's metadata is in (the page fetches it in pages
  of 1,000 while the first screen is shown) and the dataset rules ran (``status``
  complete);
* the same with the thumbnails and the caption findings cached (a second opening of the
  dataset: the check cache in the user cache folder answers instead of the rules);
* ``--baseline``: the old way in the same run, for a ratio: every card checked before it
  is served (``check=1`` on every page), no check cache.

Target (issue 18): 5,000 images open in under 2 s (the first usable page).

Run: ``python bench/bench_review_serve.py [N] [--db PATH] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TAGS = [
    "side ponytail", "ahoge", "medium hair", "blue scrunchie", "smile", "looking at viewer",
    "white background", "from behind", "beach", "pink bikini", "school uniform",
    "red necktie", "brown hair", "blue eyes", "long hair", "short hair", "open mouth",
    "blush", "skirt", "thighhighs", "sitting", "standing", "outdoors", "indoors", "day",
]
TOKEN = "bench-token-" + "x" * 32
TARGET_S = 2.0


def build(root: Path, count: int) -> None:
    from PIL import Image

    rng = random.Random(18)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = root / f"img_{i:05d}.png"
        if not image.exists():
            Image.new("RGB", (96, 72), (i % 251, (i * 7) % 251, (i * 13) % 251)).save(image)
        tags = ", ".join(rng.sample(TAGS, 10))
        text = f"masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, {tags}\n"
        (root / f"img_{i:05d}.txt").write_text(text, encoding="utf-8")


def get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"X-Review-Token": TOKEN})
    with urllib.request.urlopen(request, timeout=60) as response:
        data: bytes = response.read()
        return data


def open_once(
    root: Path, db: str | None, cache: Path, checks: Path, *, baseline: bool = False
) -> dict[str, float]:
    import uvicorn

    from anima_caption._review._dataset import make_checker
    from anima_caption._review._server import create_app, free_port
    from anima_caption._review._session import ReviewSession

    start = time.perf_counter()
    checker = make_checker(root, config=None, triggers=["kanachan"], db_path=db)
    session = ReviewSession(
        root, checker, thumb_cache=cache, check_cache=checks, use_check_cache=not baseline
    )
    session.start()
    port = free_port("127.0.0.1")
    server = uvicorn.Server(
        uvicorn.Config(create_app(session, TOKEN), host="127.0.0.1", port=port,
                       log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.002)
    base = f"http://127.0.0.1:{port}"
    listening = time.perf_counter() - start
    try:
        get(f"{base}/")
        first = json.loads(get(f"{base}/api/items?offset=0&limit=100"))
        for item in first["items"][:24]:
            get(f"{base}/thumb/{item['id']}")
        first_page = time.perf_counter() - start
        offset = len(first["items"])
        total = first["total"]
        while offset < total:
            check = "&check=1" if baseline else ""
            page = json.loads(get(f"{base}/api/items?offset={offset}&limit=1000{check}"))
            offset += len(page["items"])
        metadata = time.perf_counter() - start
        while not json.loads(get(f"{base}/api/status"))["complete"]:
            time.sleep(0.01)
        complete = time.perf_counter() - start
        get(f"{base}/api/dataset")
        panels = time.perf_counter() - start
    finally:
        server.should_exit = True
        thread.join(10)
        session.stop()
    return {
        "listening_s": listening,
        "first_page_s": first_page,
        "all_metadata_s": metadata,
        "dataset_rules_s": complete,
        "panels_s": panels,
        "items": float(total),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=5000)
    parser.add_argument("--db", help="tag database (default: the user cache's)")
    parser.add_argument("--keep", help="build the dataset here (and reuse it)")
    parser.add_argument(
        "--baseline", action="store_true",
        help="also open it the old way (every card checked before it is served, no check "
        "cache) for a same-run ratio",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-review-serve-") as scratch:
        root = Path(args.keep) if args.keep else Path(scratch) / "dataset"
        began = time.perf_counter()
        build(root, args.count)
        print(f"dataset: {args.count} images + captions in {root} "
              f"({time.perf_counter() - began:.1f} s to build)")
        cache = Path(scratch) / "thumbs"
        checks = Path(scratch) / "checks"
        runs = []
        if args.baseline:
            runs.append(("old way (checked before served), empty thumbnail cache",
                         open_once(root, args.db, Path(scratch) / "thumbs-old",
                                   checks, baseline=True)))
        cold = open_once(root, args.db, cache, checks)
        warm = open_once(root, args.db, cache, checks)
        runs += [("empty caches (thumbnails, findings)", cold),
                 ("second opening (thumbnails and findings cached)", warm)]
    for name, figures in runs:
        print(f"\n{name}:")
        print(f"  server listening           {figures['listening_s']:.2f} s")
        print(f"  first usable page          {figures['first_page_s']:.2f} s "
              f"(HTML, 100 cards, 24 thumbnails)")
        print(f"  all {int(figures['items'])} cards' metadata   {figures['all_metadata_s']:.2f} s")
        print(f"  dataset rules done         {figures['dataset_rules_s']:.2f} s")
        print(f"  dataset panels             {figures['panels_s']:.2f} s")
    if args.baseline:
        old = runs[0][1]
        print("\nratios, old / new (empty caches; second opening):")
        for key, label in (("first_page_s", "first usable page"),
                           ("all_metadata_s", "all cards' metadata"),
                           ("dataset_rules_s", "dataset rules done")):
            print(f"  {label:<22} {old[key] / cold[key]:.2f}x; {old[key] / warm[key]:.2f}x")
    verdict = "met" if cold["first_page_s"] < TARGET_S else "NOT met"
    print(f"\ntarget: first usable page under {TARGET_S:.0f} s: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
