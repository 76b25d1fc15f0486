"""The suggestion benchmark's cases (``bench/suggest_cases.yaml``, issue 14 item 6): at
least 150 real invented or removed tags, each with where it was found and the answers a
careful human accepts, judged against the real Danbooru data."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from anima_caption._tagdb import TagDB, TagStatus

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from bench_suggest import held_out, load_cases  # noqa: E402

CASES = load_cases()
# repository@commit:path, or a named source of this project (the issue, the examples)
PROVENANCE = re.compile(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}:\S+|anima-caption .+")


def test_enough_distinct_cases_each_with_provenance_and_answers() -> None:
    assert len(CASES) >= 150
    tags = [case["tag"] for case in CASES]
    assert len(set(tags)) == len(tags), "a tag is listed twice"
    for case in CASES:
        assert set(case) >= {"tag", "accept", "status", "source"}, case
        assert case["accept"] and all(isinstance(a, str) and a for a in case["accept"]), case
        assert case["tag"] not in case["accept"], case
        assert case["status"] in {"removed", "inactive-alias", "unknown"}, case
        assert PROVENANCE.fullmatch(case["source"]), case["source"]


def test_the_held_out_part_is_fixed() -> None:
    part = [case for case in CASES if held_out(case["tag"])]
    # the header's figure: digits 0-4 of sha1(tag), 79 of the 268 cases
    assert 0.2 <= len(part) / len(CASES) <= 0.4
    assert held_out("left side ponytail") is held_out("left side ponytail")


def test_seed_cases_are_in_the_benchmark() -> None:
    accept = {case["tag"]: case["accept"] for case in CASES}
    assert accept["left side ponytail"] == ["side ponytail"]
    assert accept["double parted bangs"] == ["double-parted bangs"]


@pytest.fixture(scope="module")
def db(real_tagdb_path: Path) -> TagDB:
    return TagDB.open(real_tagdb_path)


def test_cases_are_judged_against_the_real_data(db: TagDB) -> None:
    statuses = {
        "removed": TagStatus.REMOVED,
        "inactive-alias": TagStatus.INACTIVE_ALIAS,
        "unknown": TagStatus.UNKNOWN,
    }
    for case in CASES:
        info = db.lookup(case["tag"])
        assert info.status is statuses[case["status"]], (case["tag"], info.status)
        for answer in case["accept"]:  # every accepted answer is a tag one can write
            found = db.lookup(answer.removeprefix("@"))
            assert found.known and found.status in (TagStatus.TAG, TagStatus.VOCABULARY), (
                case["tag"],
                answer,
                found.status,
            )
