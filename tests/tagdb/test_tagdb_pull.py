"""``tagdb pull`` against a real HTTP server on 127.0.0.1 serving pages of the shared data."""

from __future__ import annotations

import csv
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from conftest import ALIASES, FULL, IMPLICATIONS, TAGCOMPLETE, data_file

from anima_caption._tagdb import PullError, TagDB, TagStatus
from anima_caption._tagdb._pull import PullOptions, pull, state_dir_for
from anima_caption.cli import main
from tests._http import serving

N_TAGS = 3000
N_RELATIONS = 2500


def _csv_rows(name: str, limit: int, *, header: bool) -> list[list[str]]:
    with data_file(name).open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        if header:
            next(reader)
        rows = []
        for row in reader:
            rows.append(row)
            if len(rows) == limit:
                break
        return rows


class FakeDanbooru:
    """Serves /tags.json, /tag_aliases.json, /tag_implications.json like Danbooru does:
    ``page=a<id>`` returns the ``limit`` rows with the smallest ids above ``id``, newest first."""

    def __init__(self) -> None:
        full = _csv_rows(FULL, N_TAGS, header=True)
        current = {row[0] for row in _csv_rows(FULL, 10**7, header=True)}
        # Ids deliberately not in post-count order.
        self.tags = [
            {
                "id": 900_000 - 7 * i,
                "name": n,
                "category": int(c),
                "post_count": int(p),
                "created_at": "2025-09-24T00:00:00.000-04:00",
                "is_deprecated": False,
            }
            for i, (n, c, p) in enumerate(full)
        ]
        # Deprecated tags: in the older tagcomplete list, absent from the current full list.
        old = [r for r in _csv_rows(TAGCOMPLETE, 5000, header=False) if r[0] not in current]
        self.deprecated = [
            {
                "id": 5_000 + i,
                "name": r[0],
                "category": int(r[1]),
                "post_count": 0,
                "created_at": "2013-01-01T00:00:00.000-05:00",
                "is_deprecated": True,
            }
            for i, r in enumerate(old)
        ]
        self.relations: dict[str, list[dict[str, Any]]] = {}
        for path, name in (
            ("/tag_aliases.json", ALIASES),
            ("/tag_implications.json", IMPLICATIONS),
        ):
            self.relations[path] = [
                {
                    "id": int(r[3]),
                    "antecedent_name": r[0],
                    "consequent_name": r[1],
                    "status": r[2],
                    "created_at": r[4],
                }
                for r in _csv_rows(name, N_RELATIONS, header=True)
            ]
        self.log: list[str] = []  # every request's path+query, in order
        self.served: list[str] = []  # requests answered with data
        self.fail_after: int | None = None  # answer 503 once this many pages were served
        self.transient: list[int] = []  # statuses to answer (once each) before serving
        self.lock = threading.Lock()

    def rows(self, path: str, query: dict[str, str]) -> list[dict[str, Any]] | None:
        if path == "/tags.json":
            return self.deprecated if query.get("search[is_deprecated]") == "yes" else self.tags
        return self.relations.get(path)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        with self.lock:
            self.log.append(handler.path)
            if self.transient:
                status = self.transient.pop(0)
                handler.send_response(status)
                handler.send_header("Retry-After", "0")
                handler.end_headers()
                return
            if self.fail_after is not None and len(self.served) >= self.fail_after:
                handler.send_response(503)
                handler.end_headers()
                return
            rows = self.rows(parts.path, query)
            if rows is None:
                handler.send_response(404)
                handler.end_headers()
                return
            limit = min(int(query.get("limit", "20")), 1000)
            page = query.get("page", "a0")
            assert page.startswith("a"), page
            after = int(page[1:])
            chosen = sorted((r for r in rows if r["id"] > after), key=lambda r: r["id"])[:limit]
            body = json.dumps(list(reversed(chosen))).encode()
            self.served.append(handler.path)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture
def server() -> Iterator[tuple[FakeDanbooru, str]]:
    fake = FakeDanbooru()
    with serving(fake.handle) as url:
        yield fake, url


def _options(url: str, sleeps: list[float], **kw: Any) -> PullOptions:
    return PullOptions(base_url=url, limit=500, rate=50.0, backoff=0.01, sleep=sleeps.append, **kw)


def test_pull_builds_database_with_retries_and_rate_limit(
    server: tuple[FakeDanbooru, str], tmp_path: Path
) -> None:
    fake, url = server
    fake.transient = [503, 429]
    sleeps: list[float] = []
    target = tmp_path / "db.sqlite"
    result = pull(target, _options(url, sleeps))
    assert result.counts["tags"] == N_TAGS
    assert not state_dir_for(target).exists()  # pages removed after a successful build
    # Two retries with doubling backoff; otherwise polite pauses (≤ 1/rate s) between requests.
    backoffs = [s for s in sleeps if s in (0.01, 0.02)]
    assert backoffs == [0.01, 0.02]
    pauses = [s for s in sleeps if s not in (0.01, 0.02)]
    assert pauses and all(0 < s <= 1 / 50.0 + 1e-9 for s in pauses)
    db = TagDB.open(target)
    assert db.lookup("side ponytail").known
    assert db.lookup("1girls").canonical == "1girl"
    first_deprecated = fake.deprecated[0]["name"].replace("_", " ")
    assert db.lookup(first_deprecated).status is TagStatus.REMOVED
    info = db.info()
    assert info is not None and info.complete_list
    assert {s.name for s in info.sources} >= {f"{url}/tags.json", f"{url}/tag_aliases.json"}


def test_interrupted_pull_resumes_where_it_stopped(
    server: tuple[FakeDanbooru, str], tmp_path: Path
) -> None:
    fake, url = server
    target = tmp_path / "db.sqlite"
    fake.fail_after = 4  # the server goes away after 4 pages of tags
    sleeps: list[float] = []
    with pytest.raises(PullError) as caught:
        pull(target, _options(url, sleeps, retries=2))
    message = str(caught.value)
    assert "\n" not in message and "rerun" in message and "resume" in message
    assert not target.exists()  # nothing half-written at the target
    state = json.loads((state_dir_for(target) / "state.json").read_text())
    assert state["endpoints"]["tags"]["pages"] == 4
    first_run = list(fake.served)

    fake.fail_after = None
    fake.served.clear()
    result = pull(target, _options(url, sleeps))
    # The restart asked for the page after the last id it had, never for page a0 of tags again.
    resumed_from = state["endpoints"]["tags"]["after"]
    tag_requests = [
        p for p in fake.served if p.startswith("/tags.json") and "is_deprecated%5D=no" in p
    ]
    assert f"page=a{resumed_from}" in tag_requests[0]
    assert not set(first_run) & set(fake.served)  # no page fetched twice
    assert result.counts["tags"] == N_TAGS
    assert TagDB.open(target).lookup("twintails").known


def test_cli_pull_and_offline_error(
    server: tuple[FakeDanbooru, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake, url = server
    target = tmp_path / "db.sqlite"
    argv = [
        "tagdb",
        "pull",
        "--base-url",
        url,
        "--db",
        str(target),
        "--rate",
        "1000",
        "--limit",
        "1000",
    ]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert f"built {target}: {N_TAGS:,} tags" in out.out
    assert "tags: 3 pages, 3,000 rows" in out.err  # progress, one line per endpoint off a TTY

    # Offline: nothing listens on this port any more.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = main(
        [
            "tagdb",
            "pull",
            "--base-url",
            f"http://127.0.0.1:{port}",
            "--db",
            str(tmp_path / "offline.sqlite"),
            "--retries",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("anima-caption: error: cannot fetch from 127.0.0.1:")
    assert "Traceback" not in err
    assert not (tmp_path / "offline.sqlite").exists()
