"""A real database damaged after it was built: one clear line, never a traceback.

``TagDB.open`` checks the header, the marker, the schema version and the metadata table;
damage deeper in the file only shows when a query reaches it.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from anima_caption._tagdb import TagDB, TagDBFormatError
from anima_caption.cli import main

DAMAGES = ("tag-root-page", "middle-third", "truncated")


def _damaged_copy(source: Path, target: Path, damage: str) -> Path:
    """``source`` copied to ``target`` and damaged: the `tag` table's root page garbled,
    the middle third of the file garbled, or the file cut in half."""
    shutil.copyfile(source, target)
    conn = sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    roots = dict(conn.execute("SELECT name, rootpage FROM sqlite_master WHERE rootpage > 0"))
    conn.close()
    size = target.stat().st_size
    with target.open("r+b") as handle:
        if damage == "tag-root-page":
            # Every tag lookup starts at this page; page 1 (the schema) and the pages of
            # the tables that TagDB.open reads (meta, source) stay intact.
            assert roots["tag"] not in {1, roots["meta"], roots["source"]}
            handle.seek((roots["tag"] - 1) * page_size)
            handle.write(b"\xa5" * page_size)
        elif damage == "middle-third":
            start = size // 3 // page_size * page_size
            assert start > max(roots["meta"], roots["source"]) * page_size
            handle.seek(start)
            handle.write(bytes(range(256)) * (size // 3 // 256))
        else:
            handle.truncate(size // 2 // page_size * page_size)
    return target


@pytest.fixture(params=DAMAGES)
def damaged(request: pytest.FixtureRequest, real_tagdb_path: Path, tmp_path: Path) -> Path:
    return _damaged_copy(real_tagdb_path, tmp_path / f"{request.param}.sqlite", request.param)


def _rebuild_hint(line: str, path: Path) -> None:
    assert line.startswith(f"anima-caption: error: {path}: corrupted tag database (")
    assert "anima-caption tagdb pull" in line
    assert "anima-caption tagdb import" in line


def test_cli_lookup_on_damaged_database_prints_one_line(
    damaged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tagdb", "lookup", "side ponytail", "twin tails", "--db", str(damaged)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    _rebuild_hint(lines[0], damaged)


@pytest.mark.parametrize("damage", DAMAGES[:2])
def test_damage_past_the_checked_pages_opens_then_fails_on_query(
    real_tagdb_path: Path, tmp_path: Path, damage: str
) -> None:
    """The garbled files pass every check of ``open``: the error comes from a query."""
    path = _damaged_copy(real_tagdb_path, tmp_path / "broken.sqlite", damage)
    db = TagDB.open(path)
    assert db.info() is not None  # metadata and sources are intact
    with pytest.raises(TagDBFormatError, match="corrupted tag database") as caught:
        db.lookup_many(["side ponytail", "twin tails", "1girl"])
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert "\n" not in str(caught.value)
    with pytest.raises(TagDBFormatError, match=str(path)):
        db.category("side ponytail")
    with pytest.raises(TagDBFormatError):
        db.suggest("side ponytial")
    db.close()


def test_intact_copy_still_answers(real_tagdb_path: Path, tmp_path: Path) -> None:
    """The damage, not the copying, is what the tests above see."""
    copy = tmp_path / "copy.sqlite"
    shutil.copyfile(real_tagdb_path, copy)
    with TagDB.open(copy) as db:
        assert db.lookup("side_ponytail").known
