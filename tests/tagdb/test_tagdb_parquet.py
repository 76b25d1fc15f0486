"""``tagdb import`` of parquet dumps and ``tagdb pull --contact`` (issue 17 item 5)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ALIASES, FULL, data_file

from anima_caption._tagdb import TagDB
from anima_caption.cli import main
from tests._http import serving

N_TAGS = 20_000


def _full_rows(limit: int) -> list[list[str]]:
    with data_file(FULL).open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [header]
        for row in reader:
            rows.append(row)
            if len(rows) > limit:
                break
    return rows


def test_import_of_a_parquet_dump_builds_the_database_the_csv_builds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _full_rows(N_TAGS)
    header, body = rows[0], rows[1:]
    i_name, i_cat, i_count = (header.index(c) for c in ("name", "category", "post_count"))
    as_csv = tmp_path / "tags.csv"
    with as_csv.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    # A Danbooru BigQuery-style dump: integer columns, a few extra ones, several row groups.
    table = pa.table(
        {
            "id": list(range(len(body))),
            "name": [r[i_name] for r in body],
            "post_count": [int(r[i_count]) for r in body],
            "category": [int(r[i_cat]) for r in body],
            "is_deprecated": [False] * len(body),
            "created_at": [dt.datetime(2025, 9, 24, tzinfo=dt.UTC)] * len(body),
        }
    )
    dump = tmp_path / "tags.parquet"
    pq.write_table(table, dump, row_group_size=4096)
    with data_file(ALIASES).open(encoding="utf-8", newline="") as handle:
        alias_rows = list(csv.DictReader(handle))[:5000]
    aliases_csv = tmp_path / "aliases.csv"
    with aliases_csv.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(alias_rows[0]))
        writer.writeheader()
        writer.writerows(alias_rows)
    aliases_dump = tmp_path / "aliases.parquet"
    pq.write_table(
        pa.table(
            {
                "id": [int(r["id"]) for r in alias_rows],
                "antecedent_name": [r["antecedent_name"] for r in alias_rows],
                "consequent_name": [r["consequent_name"] for r in alias_rows],
                "status": [r["status"] for r in alias_rows],
            }
        ),
        aliases_dump,
    )
    from_csv, from_dump = tmp_path / "csv.sqlite", tmp_path / "dump.sqlite"
    argv = ["tagdb", "import", str(as_csv), "--aliases", str(aliases_csv), "--db", str(from_csv)]
    assert main(argv) == 0
    argv = ["tagdb", "import", str(dump), "--aliases", str(aliases_dump), "--db", str(from_dump)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"built {from_dump}: {len(body):,} tags" in out
    a, b = TagDB.open(from_csv), TagDB.open(from_dump)
    assert a.info().counts == b.info().counts
    names = [r[i_name] for r in body[::997]] + [r["antecedent_name"] for r in alias_rows[::499]]
    for name in names:
        found = a.lookup(name)
        assert found.source in ("tags.csv", "aliases.csv")
        dumped = found._replace(source=found.source.replace(".csv", ".parquet"))
        assert dumped == b.lookup(name), name


def test_import_of_a_parquet_file_without_the_columns_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"id": [1], "tag_string": ["1girl solo"]}), dump)
    assert main(["tagdb", "import", str(dump), "--db", str(tmp_path / "x.sqlite")]) == 1
    err = capsys.readouterr().err
    assert "a parquet dump needs the columns name, category, post_count; no 'name'" in err
    assert "(columns: id, tag_string)" in err
    assert not (tmp_path / "x.sqlite").exists()


# -- pull --contact --------------------------------------------------------------------------


@pytest.fixture
def recording_server() -> Iterator[tuple[list[str], str]]:
    """A Danbooru stand-in on 127.0.0.1 with one tag; it records every User-Agent."""
    agents: list[str] = []

    def answer(handler: BaseHTTPRequestHandler) -> None:
        agents.append(handler.headers.get("User-Agent", ""))
        rows = []
        path = handler.path
        if path.startswith("/tags.json") and "is_deprecated%5D=no" in path and "=a0" in path:
            rows = [{"id": 1, "name": "1girl", "category": 0, "post_count": 9}]
        body = json.dumps(rows).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with serving(answer) as url:
        yield agents, url


def test_pull_contact_goes_in_the_user_agent(
    recording_server: tuple[list[str], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agents, url = recording_server
    target = tmp_path / "db.sqlite"
    argv = ["tagdb", "pull", "--base-url", url, "--db", str(target), "--rate", "1000"]
    assert main([*argv, "--contact", "ops@example.org"]) == 0
    assert agents
    assert all(a.endswith("(tag database pull; +ops@example.org)") for a in agents), agents
    assert all(a.startswith("anima-caption/") for a in agents)
    capsys.readouterr()
    agents.clear()
    assert main([*argv, "--db", str(tmp_path / "b.sqlite")]) == 0
    assert agents and all(a.endswith("(tag database pull)") for a in agents)


@pytest.mark.parametrize("contact", ["", "a\r\nX-Evil: 1", "x" * 201, "me (home)", "café@x.org"])
def test_pull_refuses_a_contact_that_cannot_be_a_header(
    contact: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["tagdb", "pull", "--db", str(tmp_path / "db.sqlite"), "--contact", contact]
    assert main(argv) == 2
    assert "--contact" in capsys.readouterr().err
