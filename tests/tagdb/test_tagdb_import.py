"""Importers and the builder: formats, malformed rows, strict mode, atomic writes, bad files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import ALIASES, IMPLICATIONS, TAGCOMPLETE, data_file

from anima_caption._errors import AnimaCaptionError
from anima_caption._tagdb import (
    ImportFormatError,
    TagDB,
    TagDBFormatError,
    TagStatus,
    build_database,
    open_default,
)
from anima_caption._tagdb._schema import SCHEMA_VERSION


def _write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def test_full_build_counts_and_metadata(real_tagdb_path: Path) -> None:
    """The counts the builder recorded in the file's metadata (build time: see bench/)."""
    db = TagDB.open(real_tagdb_path)
    info = db.info()
    assert info is not None
    counts = info.counts
    assert 925_000 < counts["tags"] <= 925_428
    assert 40_000 < counts["aliases_active"] <= 40_685
    assert 29_000 < counts["implications_active"] <= 29_938
    assert counts["skipped_rows"] == 0
    assert counts["shortcuts_skipped"] == 334  # the `/lh`-style entries of danbooru.csv
    assert info.complete_list and info.complete_list_date == "2025-09-24"
    assert len(info.content_sha256) == 64
    assert [s.kind for s in info.sources] == [
        "tags-full",
        "tags-tagcomplete",
        "aliases",
        "implications",
    ]
    assert info.size_bytes == real_tagdb_path.stat().st_size


def test_extra_quality_tags_rows_are_malformed(tmp_path: Path) -> None:
    """The tagcomplete quality list has a text label where the post count belongs."""
    seen: list[str] = []
    from anima_caption._tagdb import Builder

    builder = Builder(on_problem=seen.append)
    report = builder.add_tags([data_file("extra-quality-tags.csv")])
    assert report.skipped == 6 and report.rows == 0
    assert seen[0].startswith(f"{data_file('extra-quality-tags.csv')}:1: ")
    assert seen[5].split(":")[-2] == "6" or ":6:" in seen[5]


def test_malformed_rows_reported_with_line_and_counted(tmp_path: Path) -> None:
    tags = _write(
        tmp_path / "tags.csv",
        'side_ponytail,0,200991,"side_tail,sidetail,/sp"\n'
        "broken_row,zero,12,\n"
        "twintails,0,1037214,twin_tails\n"
        ",0,5,\n"
        "e621_species,7,100,\n"
        "solo,0,5000954,\n",  # as many valid rows as malformed ones: imported (see below)
    )
    problems: list[str] = []
    from anima_caption._tagdb import Builder

    builder = Builder(on_problem=problems.append)
    report = builder.add_tags([tags])
    result = builder.write(tmp_path / "db.sqlite")
    assert report.rows == 3 and report.skipped == 3 and report.shortcuts == 1
    assert [p.split(": ")[0] for p in problems] == [f"{tags}:2", f"{tags}:4", f"{tags}:5"]
    assert "category '7'" in problems[2]
    assert result.counts["skipped_rows"] == 3
    db = TagDB.open(result.path)
    assert db.lookup("side ponytail").post_count == 200991
    # Without alias data, tagcomplete aliases are unconfirmed: they do not redirect.
    info = db.lookup("twin tails")
    assert not info.known and info.alias_status == "listed"
    assert db.suggest("twin tails")[0].tag == "twintails"


def test_more_malformed_rows_than_valid_ones_is_refused_whatever_the_size(
    tmp_path: Path,
) -> None:
    """The import guard (issue 15 item 8) holds for small files too: 3 malformed rows and
    2 valid ones are more likely the wrong file (or a broken export) than a tag list, and
    the database that was there is kept. Up to as many malformed rows as valid ones are
    reported and skipped (above); --strict refuses the first one."""
    tags = _write(
        tmp_path / "tags.csv",
        "side_ponytail,0,200991,\nbroken_row,zero,12,\ntwintails,0,1037214,\n,0,5,\n"
        "e621_species,7,100,\n",
    )
    target = tmp_path / "db.sqlite"
    target.write_bytes(b"the old database")
    from anima_caption._tagdb import Builder

    builder = Builder(on_problem=lambda _text: None)
    builder.add_tags([tags])
    with pytest.raises(AnimaCaptionError) as caught:
        builder.write(target)
    message = str(caught.value)
    assert "tags.csv: 3 malformed rows and only 2 valid ones — is it the right file?" in message
    assert f"first: {tags}:2: " in message and message.endswith(f"{target} was left as it was")
    assert target.read_bytes() == b"the old database"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.sqlite", "tags.csv"]


def test_strict_makes_malformed_rows_fatal_and_writes_nothing(tmp_path: Path) -> None:
    tags = _write(tmp_path / "tags.csv", "solo,0,5000954,\nbad,0,many,\n")
    target = tmp_path / "db.sqlite"
    with pytest.raises(ImportFormatError) as caught:
        build_database(target, [tags], strict=True)
    assert str(caught.value).startswith(f"{tags}:2: ")
    assert caught.value.exit_code == 1
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [tags]  # no temporary file left behind


def test_failed_build_keeps_existing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _write(tmp_path / "good.csv", "solo,0,5000954,\n")
    target = tmp_path / "db.sqlite"
    build_database(target, [good])
    before = target.read_bytes()
    with pytest.raises(AnimaCaptionError, match=r"missing\.csv: cannot read"):
        build_database(target, [tmp_path / "missing.csv"])
    assert target.read_bytes() == before

    # A failure half-way through writing (here: while writing the fuzzy index) removes the
    # temporary file and leaves the old database untouched.
    from anima_caption._tagdb import _builder

    def explode(*_: object) -> list[tuple[str, bytes]]:
        assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
        raise KeyboardInterrupt

    monkeypatch.setattr(_builder, "_fuzzy_buckets", explode)
    with pytest.raises(KeyboardInterrupt):
        build_database(target, [_write(tmp_path / "other.csv", "1girl,0,7,\n")])
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.sqlite", "good.csv", "other.csv"]


def test_relation_status_and_header(tmp_path: Path) -> None:
    tags = _write(
        tmp_path / "t.csv", "name,category,post_count\nbrown_jacket,0,47790\ntwintails,0,10\n"
    )
    aliases = _write(
        tmp_path / "a.csv",
        "antecedent_name,consequent_name,status,id,created_at\n"
        "twin_tails,twintails,active,431,2013-02-16T03:41:57.113-05:00\n"
        "brown_blazer,brown_jacket,deleted,15498,2018-06-12T02:31:40.365-04:00\n"
        "old_name,twintails,retired,9,\n"
        ",twintails,active,10,\n",
    )
    bad_header = _write(tmp_path / "b.csv", "from,to\nx,y\n")
    result = build_database(tmp_path / "db.sqlite", [tags], aliases=[aliases])
    assert result.counts["skipped_rows"] == 1
    db = TagDB.open(result.path)
    assert db.lookup("twin_tails").canonical == "twintails"
    assert db.lookup("old name").status is TagStatus.INACTIVE_ALIAS
    assert db.lookup("brown blazer").alias_status == "deleted"
    with pytest.raises(AnimaCaptionError, match=r"b\.csv:1: header"):
        build_database(tmp_path / "db2.sqlite", [tags], aliases=[bad_header])


def test_api_json_pages(tmp_path: Path) -> None:
    samples = data_file("api-samples")
    result = build_database(
        tmp_path / "db.sqlite",
        [samples / "tags-page-1.json"],
        aliases=[samples / "tag_aliases-page-1.json"],
    )
    assert result.counts["tags"] == 1000
    db = TagDB.open(result.path)
    assert db.lookup("1girl").known and db.lookup("1girls").canonical == "1girl"
    assert db.info() is not None and db.info().complete_list  # type: ignore[union-attr]


def test_tagcomplete_only_database(tmp_path: Path) -> None:
    """Without a complete list every tagcomplete tag is a tag; nothing is called removed."""
    result = build_database(
        tmp_path / "db.sqlite", [data_file(TAGCOMPLETE)], aliases=[data_file(ALIASES)]
    )
    db = TagDB.open(result.path)
    assert db.lookup("red footwear").status is TagStatus.TAG
    assert db.lookup("twin tails").canonical == "twintails"
    info = db.info()
    assert info is not None and not info.complete_list
    assert result.counts["removed"] == 0


def test_foreign_and_corrupted_files(tmp_path: Path) -> None:
    text = _write(tmp_path / "notes.txt", "hello\n")
    with pytest.raises(TagDBFormatError, match="not SQLite"):
        TagDB.open(text)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE x (y)")
    conn.commit()
    conn.close()
    with pytest.raises(TagDBFormatError, match="not an anima-caption tag database"):
        TagDB.open(other)
    good = build_database(tmp_path / "db.sqlite", [_write(tmp_path / "t.csv", "solo,0,1,\n")]).path
    broken = tmp_path / "broken.sqlite"
    data = good.read_bytes()
    broken.write_bytes(data[:100] + b"\xff" * 2000 + data[2100:4096])
    with pytest.raises(TagDBFormatError, match=r"corrupted|not an anima-caption"):
        TagDB.open(broken).lookup("solo")
    old = tmp_path / "old.sqlite"
    old.write_bytes(data)
    conn = sqlite3.connect(old)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(TagDBFormatError, match="rebuild"):
        TagDB.open(old)
    assert open_default(str(tmp_path / "absent.sqlite")) is None
    with pytest.raises(AnimaCaptionError):
        open_default(str(text))


def test_implications_csv_only_active_rows_count(tmp_path: Path) -> None:
    tags = _write(tmp_path / "t.csv", "name,category,post_count\na,0,1\nb,0,1\nc,0,1\n")
    impl = _write(
        tmp_path / "i.csv",
        "antecedent_name,consequent_name,status,id,created_at\n"
        "a,b,active,1,\nb,c,active,2,\na,c,deleted,3,\n",
    )
    db = TagDB.open(build_database(tmp_path / "db.sqlite", [tags], implications=[impl]).path)
    assert db.lookup("a").implies == ("b",)
    assert db.lookup("a").implies_all == ("b", "c")
    assert [r.chain for r in db.redundant(["a", "c"])] == [("a", "b", "c")]


def test_real_implications_file_imports_cleanly(tmp_path: Path) -> None:
    from anima_caption._tagdb import Builder

    report = Builder().add_relations("implications", [data_file(IMPLICATIONS)])
    assert report.rows == 35_039 and report.skipped == 0
