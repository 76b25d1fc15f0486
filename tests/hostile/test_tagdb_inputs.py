"""Issue 15 item 8: the tag database survives wrong files and misbehaving servers.

Before: ``tagdb import`` of the wrong file (every row malformed) replaced a good 95 MB
database with an empty one and exited 0; ``tagdb pull`` looped forever on a server that
repeats a full page, and read answers without a size cap.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests._http import serving
from tests.hostile.conftest import run_cli

GOOD = "1girl,0,6008644,\nsolo,0,5000954,\nlong_hair,0,4000000,\nsmile,0,3000000,\n"


def _good_db(tmp_path: Path) -> Path:
    csv = tmp_path / "danbooru.csv"
    csv.write_text(GOOD, encoding="utf-8")
    db = tmp_path / "tags.sqlite"
    run = run_cli("tagdb", "import", csv, "--db", db)
    assert run.code == 0, run.err
    return db


@pytest.mark.parametrize(
    "wrong",
    [
        "# My dataset\n\nSome notes about it.\nAnother line.\n",  # a README
        "a;b;c\n1;2;3\n4;5;6\n",  # another CSV dialect
        "name,category,post_count\nx,notanumber,zz\ny,1,\n",  # broken rows only
    ],
)
def test_importing_the_wrong_file_leaves_the_database_alone(tmp_path: Path, wrong: str) -> None:
    db = _good_db(tmp_path)
    before = db.read_bytes()
    bad = tmp_path / "wrong.csv"
    bad.write_text(wrong, encoding="utf-8")
    run = run_cli("tagdb", "import", bad, "--db", db)
    run.no_traceback()
    assert run.code == 1
    assert "wrong.csv: no valid rows" in run.err and "was left as it was" in run.err
    assert db.read_bytes() == before


def test_a_mostly_malformed_file_is_refused_too(tmp_path: Path) -> None:
    db = _good_db(tmp_path)
    before = db.read_bytes()
    bad = tmp_path / "mostly.csv"
    bad.write_text("smile,0,10,\n" + "garbage line without commas\n" * 50, encoding="utf-8")
    run = run_cli("tagdb", "import", bad, "--db", db)
    run.no_traceback()
    assert run.code == 1 and "50 malformed rows and only 1 valid" in run.err
    assert db.read_bytes() == before


class _Server:
    """A misbehaving Danbooru: ``mode`` says how."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests += 1
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        limit = int(query.get("limit", "1000"))
        if self.mode == "repeat":  # the same full page, whatever is asked for
            rows = [{"id": 100 + i, "name": f"tag{i}", "category": 0, "post_count": 5,
                     "is_deprecated": False} for i in range(limit)]
            body = json.dumps(rows).encode()
        elif self.mode == "huge":  # an endless answer
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.end_headers()
            chunk = b"[" + b'{"id": 1, "name": "x"},' * 4000
            try:
                for _ in range(20_000):  # 2 GB unless the client stops reading
                    handler.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        else:  # JSON nested far too deep
            body = b"[" * 100_000 + b"]" * 100_000
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[tuple[_Server, str]]:
    fake = _Server(request.param)
    with serving(fake.answer) as url:
        yield fake, url


@pytest.mark.parametrize(
    ("server", "words"),
    [("repeat", "rows already fetched"), ("huge", "bytes; refused"), ("deep", "nested too deep")],
    indirect=["server"],
)
def test_pull_stops_with_one_line_on_a_misbehaving_server(
    tmp_path: Path, server: tuple[_Server, str], words: str
) -> None:
    fake, url = server
    db = _good_db(tmp_path)
    before = db.read_bytes()
    run = run_cli(
        "tagdb", "pull", "--base-url", url, "--rate", "1000", "--limit", "50",
        "--retries", "0", "--db", db, timeout=60, memory_mb=1200,
    )
    run.no_traceback()
    assert run.code == 1, run.err
    assert words in run.err
    assert fake.requests <= 3
    assert db.read_bytes() == before
