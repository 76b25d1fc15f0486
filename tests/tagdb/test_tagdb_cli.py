"""``anima-caption tagdb …`` run in-process through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ALIASES, TAGCOMPLETE, data_file

from anima_caption.cli import main


def test_lookup_text_and_exit_codes(
    real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(real_tagdb_path)
    assert main(["tagdb", "lookup", "--db", db, "side_ponytail", "twin tails", "masterpiece"]) == 0
    out = capsys.readouterr().out
    assert "side_ponytail: known (tag)" in out and "canonical:  twintails" in out
    assert main(["tagdb", "lookup", "--db", db, "left side ponytail"]) == 1
    out = capsys.readouterr().out
    assert "NOT A TAG" in out and "try:        side ponytail" in out


def test_lookup_json(real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "tagdb",
            "--db",
            str(real_tagdb_path),
            "lookup",
            "--json",
            "double parted bangs",
            "blue scrunchie",
        ]
    )
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data[0]["status"] == "unknown" and data[0]["known"] is False
    assert data[0]["suggestions"][0]["tag"] == "double-parted bangs"
    assert data[0]["suggestions"][0]["reason_code"] == "punctuation"
    assert data[1]["category"] == "general" and data[1]["implies"] == ["scrunchie"]


def test_env_variable_selects_database(
    real_tagdb_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANIMA_CAPTION_TAGDB", str(real_tagdb_path))
    assert main(["tagdb", "lookup", "bangs", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["status"] == "removed"


def test_info(real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tagdb", "info", "--db", str(real_tagdb_path)]) == 0
    out = capsys.readouterr().out
    assert "content hash:  sha256:" in out and "complete, data of 2025-09-24" in out
    assert "danbooru_tags_full_2025-09-24.csv" in out
    assert main(["tagdb", "info", "--json", "--db", str(real_tagdb_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["database"]["counts"]["tags"] > 925_000
    assert data["database"]["size_bytes"] == real_tagdb_path.stat().st_size


def test_without_database_vocabulary_still_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "none.sqlite")
    assert main(["tagdb", "lookup", "--db", missing, "masterpiece", "score_7", "year 2024"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("no tag database") == 1
    assert "tagdb pull" in captured.err
    assert captured.out.count("known (vocabulary)") == 3
    assert main(["tagdb", "lookup", "--db", missing, "side ponytail"]) == 1
    assert main(["tagdb", "info", "--db", missing]) == 0


def test_import_then_lookup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "sub" / "db.sqlite"
    code = main(
        [
            "tagdb",
            "import",
            str(data_file(TAGCOMPLETE)),
            "--aliases",
            str(data_file(ALIASES)),
            "--db",
            str(target),
        ]
    )
    assert code == 0
    assert f"built {target}: 140,7" in capsys.readouterr().out
    assert main(["tagdb", "lookup", "--db", str(target), "twin_tails"]) == 0


def test_import_malformed_rows_and_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("solo,0,5,\nsolo2,x,5,\n", "utf-8")
    target = tmp_path / "db.sqlite"
    assert main(["tagdb", "import", str(bad), "--db", str(target)]) == 0
    captured = capsys.readouterr()
    assert f"warning: {bad}:2: category 'x'" in captured.err
    assert "1 malformed rows skipped" in captured.out
    target.unlink()
    assert main(["tagdb", "import", str(bad), "--db", str(target), "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(f"anima-caption: error: {bad}:2: ")
    assert not target.exists()


def test_corrupted_database_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all")
    assert main(["tagdb", "lookup", "--db", str(junk), "solo"]) == 1
    err = capsys.readouterr().err
    assert (
        err.strip()
        == f"anima-caption: error: {junk}: not an anima-caption tag database (not SQLite)"
    )


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tagdb"]) == 2
    assert main(["tagdb", "lookup"]) == 2
    assert "TAG" in capsys.readouterr().err
