"""``review serve`` over HTTP (Starlette's TestClient, no browser): the token, paths the
page may never reach, saving through the journal, the changed-on-disk refusal, undo."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="review serve needs the serve extra")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")

from starlette.testclient import TestClient

from anima_caption._journal import list_runs
from anima_caption._review._dataset import make_checker
from anima_caption._review._server import COOKIE, create_app
from anima_caption._review._session import ReviewSession
from anima_caption.cli import main

TOKEN = "t" * 43


@pytest.fixture
def session(dataset: Path, db: str, tmp_path: Path) -> Iterator[ReviewSession]:
    checker = make_checker(dataset, config=None, triggers=["kanachan"], db_path=db)
    review = ReviewSession(dataset, checker, thumb_cache=tmp_path / "thumbs")
    review.start(background=False)
    yield review
    review.stop()


@pytest.fixture
def client(session: ReviewSession) -> TestClient:
    web = TestClient(create_app(session, TOKEN), base_url="http://127.0.0.1:8765")
    web.headers["X-Review-Token"] = TOKEN
    return web


def anonymous(session: ReviewSession) -> TestClient:
    return TestClient(create_app(session, TOKEN), base_url="http://127.0.0.1:8765")


def item_id(client: TestClient, key: str) -> int:
    items = client.get("/api/items").json()["items"]
    return next(i["id"] for i in items if i["key"] == key)


# -- the token --------------------------------------------------------------------------


def test_token_in_url_becomes_a_cookie(session: ReviewSession) -> None:
    web = anonymous(session)
    first = web.get(f"/?token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    cookie = first.headers["set-cookie"]
    assert f"{COOKIE}={TOKEN}" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = web.get("/")  # the cookie alone now
    assert page.status_code == 200
    assert "kanachan" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert web.get("/api/items").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/", "/api/items", "/api/status", "/api/dataset", "/api/complete?q=side", "/thumb/0",
     "/static/serve.js", "/no/such/page"],
)
def test_reads_without_the_token_are_refused(session: ReviewSession, path: str) -> None:
    web = anonymous(session)
    assert web.get(path).status_code == 403
    assert web.get(path, headers={"X-Review-Token": "wrong" * 9}).status_code == 403
    wrong = anonymous(session)
    wrong.cookies.set(COOKIE, "wrong")
    assert wrong.get(path).status_code == 403
    assert web.get(f"/?token={'x' * 43}").status_code == 403


@pytest.mark.parametrize("path", ["/api/save", "/api/undo", "/api/edit", "/api/bulk", "/api/check"])
def test_writes_need_the_header_not_only_the_cookie(
    session: ReviewSession, dataset: Path, path: str
) -> None:
    before = {p.name: p.read_bytes() for p in dataset.glob("*.txt")}
    web = anonymous(session)
    payload = {"changes": [{"id": 0, "body": "1girl"}]}
    assert web.post(path, json=payload).status_code == 403
    # A cross-site form can make the browser send the cookie, never the header.
    web.cookies.set(COOKIE, TOKEN)
    assert web.post(path, json=payload).status_code == 403
    assert {p.name: p.read_bytes() for p in dataset.glob("*.txt")} == before
    assert not (dataset / ".anima-caption").exists()


# -- nothing outside the dataset --------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/static/../_server.py",
        "/static/..%2F_server.py",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/serve.html",
        "/thumb/-1",
        "/thumb/99999",
        "/thumb/..%2F..%2Fetc%2Fpasswd",
        "/thumb/0?size=../../x",
        "/../../etc/passwd",
    ],
)
def test_no_path_reaches_outside(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert b"root:" not in response.content and b"import" not in response.content


def test_items_are_numbers_never_paths(client: TestClient) -> None:
    for bad in ("../../etc/passwd", "kanachan_nude.txt", -1, 10**9, True, None, 1.5):
        response = client.post("/api/check", json={"id": bad, "body": "1girl"})
        assert response.status_code == 400, bad
        response = client.post("/api/save", json={"changes": [{"id": bad, "body": "x"}]})
        assert response.status_code == 400, bad


def test_linked_images_are_not_served(client: TestClient, dataset: Path, tmp_path: Path,
                                      db: str) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes((dataset / "kanachan_angry.png").read_bytes())
    (dataset / "linked.png").symlink_to(secret)
    (dataset / "linked.txt").write_text("1girl, solo\n", encoding="utf-8")
    checker = make_checker(dataset, config=None, triggers=["kanachan"], db_path=db)
    review = ReviewSession(dataset, checker, thumb_cache=tmp_path / "thumbs2")
    review.start(background=False)
    web = TestClient(create_app(review, TOKEN))
    web.headers["X-Review-Token"] = TOKEN
    number = next(i.id for i in review.items if i.key == "linked.txt")
    response = web.get(f"/thumb/{number}")
    assert response.status_code == 404 and "link" in response.text
    ok = next(i.id for i in review.items if i.key == "kanachan_angry.txt")
    assert web.get(f"/thumb/{ok}").headers["content-type"].startswith("image/")


def test_thumbnails_cached_outside_the_dataset(client: TestClient, session: ReviewSession,
                                               dataset: Path, tmp_path: Path) -> None:
    number = item_id(client, "kanachan_bikini.txt")
    first = client.get(f"/thumb/{number}")
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    cached = list((tmp_path / "thumbs").rglob("*.jpeg"))
    assert len(cached) == 1
    assert client.get(f"/thumb/{number}").content == first.content
    large = client.get(f"/thumb/{number}?size=large")
    assert large.status_code == 200
    assert not (dataset / ".anima-caption").exists()
    assert not any(p.name.endswith(".jpeg") for p in dataset.rglob("*"))


# -- editing, saving, conflicts, undo ---------------------------------------------------


def test_check_edit_and_complete(client: TestClient) -> None:
    number = item_id(client, "kanachan_nude.txt")
    item = client.get("/api/items").json()["items"][number]
    assert any(d["code"] == "TG005" for d in item["diagnostics"])
    body = item["body"].replace("double parted bangs", "double-parted bangs")
    live = client.post("/api/check", json={"id": number, "body": body}).json()
    assert not any(d["code"] == "TG005" for d in live["diagnostics"])
    # one click on TG005's fix does the same
    tg005 = next(d for d in item["diagnostics"] if d["code"] == "TG005")
    fixed = client.post(
        "/api/edit",
        json={"id": number, "body": item["body"], "op": "fix", "diagnostic": tg005["n"],
              "code": "TG005", "start": tg005["start"]},
    ).json()
    assert "double-parted bangs" in fixed["body"]
    completions = client.get("/api/complete", params={"q": "pink biki"}).json()["completions"]
    assert completions[0]["name"] == "pink bikini" and completions[0]["post_count"] > 1000


def test_save_writes_through_the_journal_and_undo(client: TestClient, dataset: Path) -> None:
    number = item_id(client, "kanachan_smile.txt")
    path = dataset / "kanachan_smile.txt"
    original = path.read_bytes()
    body = client.get("/api/items").json()["items"][number]["body"]
    new = body.replace("smile", "grin")
    saved = client.post("/api/save", json={"changes": [{"id": number, "body": new}]}).json()
    assert saved["written"] == 1 and saved["conflicts"] == [] and saved["run"]
    assert path.read_bytes() == (new + "\n").encode("utf-8")
    runs = list_runs(dataset)
    assert [r.id for r in runs] == [saved["run"]] and runs[0].command == "review serve"
    undone = client.post("/api/undo", json={}).json()
    assert undone["run"] == saved["run"] and undone["restored"] == ["kanachan_smile.txt"]
    assert path.read_bytes() == original
    assert undone["items"][0]["body"] == body


def test_changed_on_disk_is_refused_and_shown(client: TestClient, dataset: Path) -> None:
    number = item_id(client, "kanachan_angry.txt")
    path = dataset / "kanachan_angry.txt"
    path.write_text("1girl, someone else's edit\n", encoding="utf-8")
    mine = "1girl, solo, kanachan, angry"
    answer = client.post("/api/save", json={"changes": [{"id": number, "body": mine}]}).json()
    assert answer["written"] == 0
    assert answer["conflicts"] == [
        {
            "id": number,
            "key": "kanachan_angry.txt",
            "disk": "1girl, someone else's edit",
            "yours": mine,
            "reason": "changed on disk since it was loaded",
        }
    ]
    assert path.read_text(encoding="utf-8") == "1girl, someone else's edit\n"
    # Taking the file's text, then saving over it, works.
    fresh = client.post("/api/reload", json={"ids": [number]}).json()["items"][0]
    assert fresh["body"] == "1girl, someone else's edit"
    again = client.post("/api/save", json={"changes": [{"id": number, "body": mine}]}).json()
    assert again["written"] == 1
    assert path.read_text(encoding="utf-8") == mine + "\n"


def test_unparsable_caption_refused(client: TestClient, dataset: Path) -> None:
    number = item_id(client, "kanachan_angry.txt")
    before = (dataset / "kanachan_angry.txt").read_bytes()
    answer = client.post("/api/save", json={"changes": [{"id": number, "body": "1girl, (smile"}]})
    refused = answer.json()["refused"]
    assert len(refused) == 1 and "does not parse" in refused[0]["reason"]
    assert (dataset / "kanachan_angry.txt").read_bytes() == before


def test_crlf_and_bom_kept(client: TestClient, session: ReviewSession, dataset: Path) -> None:
    path = dataset / "kanachan_smile.txt"
    path.write_bytes(b"\xef\xbb\xbf1girl, solo,\r\nA girl smiles.\r\n")
    number = item_id(client, "kanachan_smile.txt")
    fresh = client.post("/api/reload", json={"ids": [number]}).json()["items"][0]
    assert fresh["body"] == "1girl, solo,\nA girl smiles."
    body = fresh["body"].replace("solo", "solo, smile")
    assert client.post("/api/save", json={"changes": [{"id": number, "body": body}]}).json()[
        "written"
    ] == 1
    assert path.read_bytes() == b"\xef\xbb\xbf1girl, solo, smile,\r\nA girl smiles.\r\n"


def test_bulk_replace_preview_then_save(client: TestClient, dataset: Path) -> None:
    items = client.get("/api/items").json()["items"]
    payload: dict[str, Any] = {
        "action": "replace",
        "tag": "blue scrunchie",
        "new": "hair scrunchie",
        "items": [{"id": i["id"], "body": i["body"]} for i in items],
    }
    changes = client.post("/api/bulk", json=payload).json()["changes"]
    assert len(changes) == 6
    assert all("-" in c["diff"] and "+" in c["diff"] for c in changes)
    assert all("blue scrunchie" in p.read_text() for p in dataset.glob("*.txt"))  # preview only
    saved = client.post(
        "/api/save", json={"changes": [{"id": c["id"], "body": c["new"]} for c in changes]}
    ).json()
    assert saved["written"] == 6
    assert all("hair scrunchie" in p.read_text() for p in dataset.glob("*.txt"))
    assert main(["undo", str(dataset)]) == 0  # the CLI undoes the page's save
    assert all("blue scrunchie" in p.read_text() for p in dataset.glob("*.txt"))


def test_dataset_panels(client: TestClient) -> None:
    data = client.get("/api/dataset").json()
    swapped = [f for f in data["findings"] if f["code"] == "DS006"]
    assert len(swapped) == 2
    keys = {i["id"]: i["key"] for i in client.get("/api/items").json()["items"]}
    pairs = {(keys[f["id"]], keys[f["other"]]) for f in swapped}
    assert pairs == {
        ("kanachan_bikini.txt", "kanachan_nude.txt"),
        ("kanachan_nude.txt", "kanachan_bikini.txt"),
    }
    frequency = {tag: count for tag, count, _group in data["frequency"]}
    assert frequency["blue scrunchie"] == 6


def test_policy_colours_and_findings(dataset: Path, db: str, tmp_path: Path) -> None:
    policy_file = Path(__file__).resolve().parents[2] / "examples" / "kanachan-policy.yaml"
    from anima_caption._review._proposals import load_policy_file

    policy = load_policy_file(policy_file)
    checker = make_checker(dataset, config=None, triggers=[], db_path=db, policy=policy)
    review = ReviewSession(dataset, checker, policy=policy, thumb_cache=tmp_path / "t")
    review.start(background=False)
    web = TestClient(create_app(review, TOKEN))
    web.headers["X-Review-Token"] = TOKEN
    items = web.get("/api/items").json()["items"]
    groups = {s["group"] for i in items for s in i["segments"] if s["kind"] == "tag"}
    assert {"core", "structural", "other"} <= groups
    data = web.get("/api/dataset").json()
    assert data["policy_on"] and any(f["code"].startswith("PL") for f in data["policy"])


def test_background_loading_serves_the_first_page_at_once(dataset: Path, db: str,
                                                           tmp_path: Path) -> None:
    checker = make_checker(dataset, config=None, triggers=["kanachan"], db_path=db)
    review = ReviewSession(dataset, checker, thumb_cache=tmp_path / "t")
    review.start()
    try:
        first = review.items_json(0, 2)
        assert len(first["items"]) == 2 and all(i["ready"] for i in first["items"])
        assert review.wait_ready(60)
        assert review.status()["complete"]
    finally:
        review.stop()


def test_serve_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["review", "serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for needle in ("--port", "--policy", "--trigger", "127.0.0.1", "ssh -N -L", "token",
                   "undo", "Bulk", "anima-caption[serve]"):
        assert needle in out, needle


def test_serve_refuses_a_bad_port(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "serve", str(dataset), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert os.environ.get("ANIMA_CAPTION_CACHE_DIR")  # the suite never touches the user cache
