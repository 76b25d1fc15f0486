"""Issue 13: an undeclared trigger in nearly every caption is reported once as the likely
trigger, not in every caption as a misspelt tag ("did you mean '@t k'")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anima_caption.cli import main

CAPTIONS = [
    "tk, 1girl, solo, long hair, smile, safe",
    "tk, 1girl, solo, short hair, open mouth, safe",
    "tk, 1girl, solo, ponytail, looking at viewer, safe",
    "tk, 1boy, solo, black hair, standing, safe",
    "tk, 1girl, solo, braid, sitting, safe",
]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    root.mkdir()
    for n, text in enumerate(CAPTIONS):
        (root / f"{n:02d}.txt").write_text(text + "\n", encoding="utf-8")
    return root


def _findings(root: Path, db: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict]:  # type: ignore[type-arg]
    code = main(["check", str(root), "--db", str(db), "--format", "json", *extra])
    out = capsys.readouterr().out
    assert code in (0, 1)
    data = json.loads(out)
    return data if isinstance(data, list) else data["diagnostics"]  # type: ignore[no-any-return]


def test_reported_once_as_the_likely_trigger(
    dataset: Path, real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = _findings(dataset, real_tagdb_path, capsys)
    likely = [d for d in found if d["code"] == "DS005"]
    assert len(likely) == 1
    assert "'tk' is in 5 of 5 captions" in likely[0]["message"]
    assert "pass --trigger tk" in likely[0]["message"]
    assert not [d for d in found if d["code"] == "TG005"]


def test_declared_the_trigger_is_quiet(
    dataset: Path, real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = _findings(dataset, real_tagdb_path, capsys, "--trigger", "tk")
    assert not [d for d in found if d["code"] in ("DS005", "TG005", "TR001")]


def test_a_token_in_fewer_captions_is_still_a_missing_tag(
    tmp_path: Path, real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "set"
    root.mkdir()
    for n, text in enumerate(CAPTIONS):
        if n == 0:
            text = text.replace("long hair", "left side ponytail")
        (root / f"{n:02d}.txt").write_text(text + "\n", encoding="utf-8")
    found = _findings(root, real_tagdb_path, capsys)
    unknown = [d for d in found if d["code"] == "TG005"]
    assert len(unknown) == 1 and "left side ponytail" in unknown[0]["message"]
