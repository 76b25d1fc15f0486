"""``review serve`` opening fast and opening anything (issue 18): cards served parsed before
they are checked with their diagnostics streamed through ``/api/updates``, the check cache
(a second opening reads the findings), the thumbnail cache's size cap, the likely-trigger
TG005 gone right after a save, and dataset files (parquet, JSON lines) served read-only."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="review serve needs the serve extra")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")

from starlette.testclient import TestClient

from anima_caption._review._cache import prune
from anima_caption._review._dataset import make_checker
from anima_caption._review._server import create_app
from anima_caption._review._session import ReviewSession

TOKEN = "t" * 43


def client_for(review: ReviewSession) -> TestClient:
    web = TestClient(create_app(review, TOKEN), base_url="http://127.0.0.1:8765")
    web.headers["X-Review-Token"] = TOKEN
    return web


def session(root: Path, db: str, tmp_path: Path, **kwargs: Any) -> ReviewSession:
    checker = make_checker(root, config=None, triggers=kwargs.pop("triggers", ["kanachan"]),
                           db_path=db)
    kwargs.setdefault("thumb_cache", tmp_path / "thumbs")
    kwargs.setdefault("check_cache", tmp_path / "checks")
    return ReviewSession(root, checker, **kwargs)


def diagnostics(review: ReviewSession) -> dict[str, list[tuple[str, int, int, str]]]:
    return {
        i.key: [(r.code, r.line, r.column, r.message) for r in [*i.records, *i.dataset]]
        for i in review.items
    }


def many(root: Path, count: int) -> Path:
    root.mkdir()
    for n in range(count):
        extra = "sidee ponytail" if n % 7 == 0 else "side ponytail"
        (root / f"img_{n:03d}.txt").write_text(
            f"masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, {extra}, smile\n",
            encoding="utf-8",
        )
    return root


# -- cards first, diagnostics streamed ------------------------------------------------


def test_cards_come_parsed_then_diagnostics_stream_in(tmp_path: Path, db: str) -> None:
    root = many(tmp_path / "d", 60)
    review = session(root, db, tmp_path, use_check_cache=False)
    review.scan()  # no background thread yet: nothing gets checked behind the page's back
    web = client_for(review)
    page = web.get("/api/items?offset=0&limit=1000").json()  # a large page: not checked
    assert page["ready"] == 0 and page["seq"] == 0
    card = page["items"][0]
    assert card["ready"] is False and card["diagnostics"] == []
    assert [s["text"] for s in card["segments"] if s["kind"] == "tag"][-2:] == [
        "sidee ponytail", "smile"
    ]
    screen = web.get("/api/items?offset=0&limit=10").json()  # a screenful: checked first
    assert all(c["ready"] for c in screen["items"])
    assert any(d["code"] == "TG005" for d in screen["items"][0]["diagnostics"])
    seq = screen["seq"]
    assert seq >= 10
    review.start()  # the background check (scans again: same items)
    assert review.wait_ready(60)
    updates = web.get(f"/api/updates?since={seq}").json()
    assert updates["complete"] and updates["seq"] > seq
    got = {u["id"] for u in updates["items"]}
    assert set(range(10, 60)) <= got  # every card checked since comes with its findings
    by_id = {u["id"]: u for u in updates["items"]}
    assert by_id[14]["status"] == "error" and by_id[14]["ready"]
    assert any(d["code"] == "TG005" for d in by_id[14]["diagnostics"])
    assert web.get(f"/api/updates?since={updates['seq']}").json()["items"] == []
    review.stop()
    # The same findings as checking everything before serving.
    full = session(root, db, tmp_path, use_check_cache=False)
    full.start(background=False)
    assert diagnostics(review) == diagnostics(full)


# -- the check cache ------------------------------------------------------------------


def test_second_opening_reads_the_findings_from_the_cache(tmp_path: Path, db: str) -> None:
    root = many(tmp_path / "d", 40)
    first = session(root, db, tmp_path)
    first.start(background=False)
    assert first.check_cache is not None
    assert first.check_cache.misses == 40 and first.check_cache.hits == 0
    assert first.check_cache.path.is_file()
    assert not any(p.name.startswith(".anima") for p in root.iterdir())  # never in the dataset

    second = session(root, db, tmp_path)
    second.start(background=False)
    assert second.check_cache is not None
    assert second.check_cache.hits == 40 and second.check_cache.misses == 0
    assert diagnostics(second) == diagnostics(first)
    # Fixes come back whole: the one-click fix still applies.
    web = client_for(second)
    card = web.get("/api/items?offset=0&limit=1").json()["items"][0]
    typo = next(d for d in card["diagnostics"] if d["code"] == "TG005")
    assert typo["fix"] is not None or typo["message"]

    # One file changed (same size, same modification time even): only it is checked again.
    path = root / "img_003.txt"
    info = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("smile", "smilf"), encoding="utf-8")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    third = session(root, db, tmp_path)
    third.start(background=False)
    assert third.check_cache is not None
    assert (third.check_cache.hits, third.check_cache.misses) == (39, 1)
    fresh = session(root, db, tmp_path, use_check_cache=False)
    fresh.start(background=False)
    assert diagnostics(third) == diagnostics(fresh)
    assert any("smilf" in m for _c, _l, _col, m in diagnostics(third)["img_003.txt"])

    # Another configuration (a trigger more) is another fingerprint: nothing reused, and
    # the old file of this dataset is dropped.
    other = session(root, db, tmp_path, triggers=["kanachan", "smile"])
    other.start(background=False)
    assert other.check_cache is not None and third.check_cache is not None
    assert other.check_cache.hits == 0
    assert other.check_cache.path != third.check_cache.path
    assert not third.check_cache.path.exists()


def test_a_damaged_cache_file_is_ignored(tmp_path: Path, db: str) -> None:
    root = many(tmp_path / "d", 5)
    first = session(root, db, tmp_path)
    first.start(background=False)
    assert first.check_cache is not None
    doc = json.loads(first.check_cache.path.read_bytes())
    key = next(iter(doc["entries"]))
    doc["entries"][key][1] = [["not", "a", "record"]]
    first.check_cache.path.write_text(json.dumps(doc), encoding="utf-8")
    second = session(root, db, tmp_path)
    second.start(background=False)
    assert diagnostics(second) == diagnostics(first)
    first.check_cache.path.write_bytes(b"\x00garbage")
    third = session(root, db, tmp_path)
    third.start(background=False)
    assert diagnostics(third) == diagnostics(first)


# -- the thumbnail cache's cap --------------------------------------------------------


def test_prune_deletes_least_recently_used_first(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    (folder / "a").mkdir(parents=True)
    now = time.time()
    for n in range(10):
        path = folder / "a" / f"{n}.png"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - 100 + n, now - 100 + n))  # 0 oldest … 9 newest
    os.utime(folder / "a" / "0.png", (now, now))  # used just now
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"y" * 5000)
    (folder / "a" / "link.png").symlink_to(outside)
    assert prune(folder, max_bytes=4500) == 6
    left = sorted(p.name for p in (folder / "a").iterdir())
    assert left == ["0.png", "7.png", "8.png", "9.png", "link.png"]
    assert outside.read_bytes() == b"y" * 5000  # links are never followed nor deleted
    assert prune(folder, max_bytes=4500) == 0
    assert prune(tmp_path / "missing", max_bytes=0) == 0


def test_thumbnail_cache_stays_under_its_cap(dataset: Path, db: str, tmp_path: Path) -> None:
    review = session(dataset, db, tmp_path, thumb_cache_bytes=1)
    review.start(background=False)
    web = client_for(review)
    numbers = [i.id for i in review.items if i.image is not None]
    assert len(numbers) >= 3
    for number in numbers:
        assert web.get(f"/thumb/{number}").status_code == 200
    # A cap of one byte: each new thumbnail prunes the older ones.
    assert len(list(review.thumb_cache.glob("*"))) <= 1
    big = session(dataset, db, tmp_path, thumb_cache=tmp_path / "big")
    big.start(background=False)
    web = client_for(big)
    for number in numbers:
        assert web.get(f"/thumb/{number}").status_code == 200
    files = sorted(big.thumb_cache.glob("*"))
    assert len(files) == len(numbers)
    size = sum(p.stat().st_size for p in files)
    big.thumb_cache_bytes = size - 1
    old = files[0]
    os.utime(old, (1, 1))
    assert web.get(f"/thumb/{numbers[0]}").status_code == 200  # a hit makes it recent
    assert big.prune_thumbnails() >= 1
    assert len(list(big.thumb_cache.glob("*"))) < len(numbers)


# -- the likely trigger after a save --------------------------------------------------


def test_likely_trigger_tg005_stays_away_after_a_save(tmp_path: Path, db: str) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for n in range(12):
        (root / f"img_{n:02d}.txt").write_text(
            f"zqxtrigger, 1girl, solo, {'smile' if n % 2 else 'open mouth'}, outdoors\n",
            encoding="utf-8",
        )
    review = session(root, db, tmp_path, triggers=[])
    review.start(background=False)
    codes = {c for c, *_ in diagnostics(review)["img_00.txt"]}
    assert "TG005" not in codes  # DS005 names the likely trigger once instead
    web = client_for(review)
    saved = web.post("/api/save", json={
        "changes": [{"id": 0, "body": "zqxtrigger, 1girl, solo, smile, outdoors"}]
    }).json()
    assert saved["written"] == 1
    card = saved["items"][0]
    assert not [d for d in card["diagnostics"] if d["code"] == "TG005"], card["diagnostics"]
    live = web.post("/api/check", json={"id": 0, "body": "zqxtrigger, 1girl, smile"}).json()
    assert not [d for d in live["diagnostics"] if d["code"] == "TG005"]


# -- dataset files ----------------------------------------------------------------------


def rows(count: int) -> list[dict[str, str]]:
    return [
        {
            "file_name": f"img_{n}.png",
            "text": f"1girl, solo, kanachan, {'sidee ponytail' if n == 1 else 'smile'}",
        }
        for n in range(count)
    ]


def test_jsonl_source_is_served_read_only(dataset: Path, db: str, tmp_path: Path) -> None:
    from anima_caption.datasets import open_source

    folder = tmp_path / "hf"
    folder.mkdir()
    image = next(dataset.glob("*.png"))
    (folder / "img_0.png").write_bytes(image.read_bytes())
    meta = folder / "metadata.jsonl"
    meta.write_text("".join(json.dumps(r) + "\n" for r in rows(3)), encoding="utf-8")
    before = meta.read_bytes()
    review = session(folder, db, tmp_path, source=open_source(meta))
    review.start(background=False)
    web = client_for(review)
    page = web.get("/").text
    assert 'id="read-only"' in page and "read-only" in page
    items = web.get("/api/items").json()
    assert items["read_only"] and items["total"] == 3
    keys = [i["key"] for i in items["items"]]
    assert keys == [f"{meta.as_posix()}[img_{n}.png]" for n in range(3)]
    assert items["items"][0]["image"] and not items["items"][1]["image"]
    assert web.get("/thumb/0").status_code == 200  # the image the row names, beside the file
    assert web.get("/thumb/1").status_code == 404
    tg005 = [d for d in items["items"][1]["diagnostics"] if d["code"] == "TG005"]
    assert tg005
    # Editing and checking work; writing does not.
    fixed = web.post("/api/check", json={"id": 1, "body": "1girl, solo, side ponytail"}).json()
    assert not [d for d in fixed["diagnostics"] if d["code"] == "TG005"]
    bulk = web.post("/api/bulk", json={
        "action": "replace", "tag": "smile", "new": "grin", "items": [{"id": 0}, {"id": 2}]
    }).json()
    assert len(bulk["changes"]) == 2
    refused = web.post("/api/save", json={"changes": [{"id": 0, "body": "1girl"}]})
    assert refused.status_code == 409 and "read-only" in refused.json()["error"]
    assert web.post("/api/undo", json={}).status_code == 409
    assert meta.read_bytes() == before
    assert not (folder / ".anima-caption").exists()


def test_parquet_source_through_the_command_line(tmp_path: Path, db: str) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from anima_caption._review.cli import serve_session
    from anima_caption.cli import build_parser

    path = tmp_path / "data.parquet"
    table = pa.table({
        "key": [f"row{n}" for n in range(4)],
        "prompt": [r["text"] for r in rows(4)],
        "other": ["x"] * 4,
    })
    pq.write_table(table, path)
    before = path.read_bytes()
    args = build_parser().parse_args([
        "review", "serve", str(path), "--column", "prompt", "--id-column", "key",
        "--trigger", "kanachan", "--db", db,
    ])
    review = serve_session(args)
    review.check_cache = None
    review.thumb_cache = tmp_path / "thumbs"
    review.start(background=False)
    assert review.read_only and "parquet" in review.read_only
    web = client_for(review)
    items = web.get("/api/items").json()["items"]
    assert [i["key"] for i in items] == [f"{path.as_posix()}[row{n}]" for n in range(4)]
    assert items[1]["status"] == "error"
    assert items[0]["body"] == "1girl, solo, kanachan, smile"
    assert web.get("/api/dataset").status_code == 200
    assert web.post("/api/save", json={"changes": [{"id": 0, "body": "1girl"}]}).status_code == 409
    assert path.read_bytes() == before
