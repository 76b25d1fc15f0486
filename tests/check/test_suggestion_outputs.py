"""Issue 14 item 4: every output says a suggestion group's reason once (text, JSON, SARIF,
the review sheet, the HTML report), on the full real Danbooru database.

`bangs` (removed) gets several specific kinds that share one reason; `plaid` beside
`plaid skirt` is to be removed; `left side ponytail` gets one suggestion with its reason.
"""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

import pytest

from anima_caption.cli import main

CAPTION = "safe, 1girl, bangs, plaid, plaid skirt, left side ponytail, smile\n"
GROUP_REASON = "Danbooru no longer uses `bangs`"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    root.mkdir()
    (root / "a.txt").write_text(CAPTION, encoding="utf-8")
    return root


def _check(dataset: Path, db: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    argv = ["check", str(dataset), "--format", fmt, "--exit-zero", "--no-progress"]
    assert main([*argv, "--db", str(db)]) == 0
    return capsys.readouterr().out


def _bangs_message(messages: list[str]) -> str:
    found = [m for m in messages if m.startswith("'bangs'")]
    assert len(found) == 1, messages
    return found[0]


def _said_once(message: str) -> None:
    assert message.count(GROUP_REASON) == 1, message
    assert message.count("' or '") >= 2, message  # several suggestions share it
    assert len(message) < 400, message  # short: one reason, not one per suggestion


def test_text_output(
    dataset: Path, real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _check(dataset, real_tagdb_path, "text", capsys)
    lines = [line.split(" ", 2)[-1] for line in out.splitlines() if "TG007" in line]
    bangs = next(line for line in lines if "'bangs'" in line)
    _said_once(bangs)
    plaid = next(line for line in lines if "'plaid'" in line)
    assert "remove it" in plaid and "plaid skirt" in plaid


def test_json_output(
    dataset: Path, real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = json.loads(_check(dataset, real_tagdb_path, "json", capsys))
    messages = [r["message"] for r in records if r["code"] in ("TG005", "TG007")]
    _said_once(_bangs_message(messages))
    ponytail = next(m for m in messages if m.startswith("'left side ponytail'"))
    assert ponytail.count("direction words") == 1


def test_sarif_output(
    dataset: Path, real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sarif = json.loads(_check(dataset, real_tagdb_path, "sarif", capsys))
    messages = [r["message"]["text"] for run in sarif["runs"] for r in run["results"]]
    _said_once(_bangs_message(messages))


def test_review_sheet(dataset: Path, real_tagdb_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "review.csv"
    argv = ["review", "export", str(dataset), "--out", str(out), "--db", str(real_tagdb_path)]
    assert main(argv) == 0
    with out.open(encoding="utf-8-sig", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    diagnostics = next(cell for cell in cells if "'bangs'" in cell)
    bangs = next(line for line in diagnostics.splitlines() if "'bangs'" in line)
    assert bangs.count(GROUP_REASON) == 1 and len(bangs) < 450, bangs


def test_html_report(dataset: Path, real_tagdb_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    argv = ["report", str(dataset), "--out", str(out), "--db", str(real_tagdb_path)]
    assert main([*argv, "--no-progress"]) == 0
    page = html.unescape(out.read_text(encoding="utf-8"))
    # the message is shown twice (the flagged tag's tooltip, the card's list), each time
    # with its group's reason once
    shown = page.count("'bangs' is deprecated or removed on Danbooru")
    assert shown == 2
    assert page.count(GROUP_REASON) == shown
