"""Proposals from ``convert`` and the policy engine, and the report coloured by policy."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from anima_caption._parse import parse
from anima_caption._review._proposals import remove_tags
from anima_caption._review._sheet import COL_CURRENT, COL_KEY, COL_PROPOSED
from anima_caption.cli import main

POLICY = "triggers:\n  kanachan: {}\n"


def _csv(path: Path) -> dict[str, dict[str, str]]:
    rows = csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline=""))
    return {row[COL_KEY]: row for row in rows}


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def test_propose_policy_removes_absorbed_tags(
    dataset: Path, db: str, tmp_path: Path, policy: Path
) -> None:
    out = tmp_path / "review.csv"
    argv = ["review", "export", str(dataset), "--out", str(out), "--db", db]
    assert main([*argv, "--propose", "policy", "--policy", str(policy)]) == 0
    rows = _csv(out)
    nude = rows["kanachan_nude.txt"]
    # Hair and eye colour are core: the trigger absorbs them.
    assert "brown eyes, brown hair, " in nude[COL_CURRENT]
    assert nude[COL_PROPOSED] == nude[COL_CURRENT].replace("brown eyes, brown hair, ", "")
    bikini = rows["kanachan_bikini.txt"]
    assert bikini[COL_PROPOSED] == bikini[COL_CURRENT].replace("brown hair, ", "")
    smile = rows["kanachan_smile.txt"]
    assert smile[COL_PROPOSED] == smile[COL_CURRENT]


def test_propose_convert_uses_the_converter(dataset: Path, db: str, tmp_path: Path) -> None:
    sdxl = "1girl, kanachan, side_ponytail, (smile:1.2), rating:general\n"
    (dataset / "kanachan_smile.txt").write_text(sdxl, encoding="utf-8")
    out = tmp_path / "review.csv"
    argv = ["review", "export", str(dataset), "--out", str(out), "--db", db]
    argv += ["--trigger", "kanachan", "--propose", "convert", "--from", "sdxl"]
    assert main(argv) == 0
    proposed = _csv(out)["kanachan_smile.txt"][COL_PROPOSED]
    assert proposed == "safe, 1girl, kanachan, side ponytail, smile"


def test_report_colours_by_policy_role(
    dataset: Path, db: str, tmp_path: Path, policy: Path
) -> None:
    out = tmp_path / "report.html"
    argv = ["report", str(dataset), "--out", str(out), "--db", db, "--policy", str(policy)]
    assert main(argv) == 0
    page = out.read_text(encoding="utf-8")
    assert "tags coloured by policy" in page
    assert 'class="tag g-core" data-tag="brown hair"' in page
    assert 'class="tag g-structural" data-tag="side ponytail"' in page
    assert 'class="tag g-variable" data-tag="smile"' in page
    # The policy's trigger counts as the trigger: no "missing trigger" flags.
    assert 'flag" data-tag="kanachan"' not in page


@pytest.mark.parametrize(
    ("text", "drop", "expected"),
    [
        ("1girl, brown hair, smile", {"brown hair"}, "1girl, smile"),
        ("1girl, smile, brown hair", {"brown hair"}, "1girl, smile"),
        ("1girl, smile, brown hair\n", {"brown hair"}, "1girl, smile\n"),
        ("brown hair, 1girl", {"brown hair"}, "1girl"),
        ("1girl, A girl. brown hair, blue eyes", {"brown hair", "blue eyes"}, "1girl, A girl."),
        ("1girl,  smile", {"nothing"}, "1girl,  smile"),
    ],
)
def test_remove_tags_keeps_everything_else(text: str, drop: set[str], expected: str) -> None:
    caption = parse(text)
    assert remove_tags(caption, lambda tag: tag.text in drop) == expected
