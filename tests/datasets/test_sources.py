"""Each source and sink, on files the tests write with the real libraries (pyarrow,
tarfile, json): what is read is what was written, and what a sink writes reads back."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anima_caption import UsageError
from anima_caption._journal import undo
from anima_caption.datasets import (
    DanbooruCaptioner,
    DanbooruSource,
    DatasetError,
    FolderSource,
    JsonLinesSource,
    MetadataJsonSource,
    Output,
    ParquetSource,
    ShardFilter,
    WebDatasetSource,
    _sources,
    danbooru_caption,
    open_sink,
    open_source,
)

CAPTIONS = {
    "a.png": "masterpiece, safe, 1girl, smile",
    "b.png": "1girl, long_hair, general",
    "c.png": "safe, 1girl, A girl smiling at the viewer. She waves.",
}


def _write_all(sink, records, texts=None):  # type: ignore[no-untyped-def]
    for record in records:
        sink.write(Output(record, texts[record.id] if texts else record.text))
    sink.close()


def test_parquet_source_and_sink_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(
        pa.table({"file_name": list(CAPTIONS), "caption": list(CAPTIONS.values())}), path
    )
    source = open_source(path)
    assert isinstance(source, ParquetSource)
    records = list(source.records())
    assert {r.id: r.text for r in records} == CAPTIONS
    assert records[1].where == f"{path.as_posix()} row 1"
    out = tmp_path / "out.parquet"
    sink = open_sink(out, command="test", sources=[path], diagnostics=True)
    _write_all(sink, records)
    table = pq.read_table(out)
    assert table.column_names == ["id", "caption", "diagnostics", "errors", "warnings"]
    assert dict(zip(table["id"].to_pylist(), table["caption"].to_pylist(), strict=True)) == CAPTIONS
    with pytest.raises(UsageError, match="already exists"):
        open_sink(out, command="test")
    with pytest.raises(UsageError, match="is the dataset being read"):
        open_sink(path, command="test", sources=[path])


def test_parquet_column_mapping_and_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "hf.parquet"
    pq.write_table(pa.table({"key": ["x", "y"], "prompt_en": ["safe, 1girl", None]}), path)
    records = list(open_source(path, column="prompt_en", id_column="key").records())
    assert [(r.id, r.text) for r in records] == [("x", "safe, 1girl"), ("y", "")]
    with pytest.raises(UsageError, match=r"no caption column \(columns: key, prompt_en\)"):
        list(open_source(path).records())
    with pytest.raises(UsageError, match="no id column 'nope'"):
        list(open_source(path, column="prompt_en", id_column="nope").records())


def test_jsonl_source_and_sink_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "metadata.jsonl"
    lines = [json.dumps({"file_name": k, "text": v}) for k, v in CAPTIONS.items()]
    path.write_text("\n".join(lines[:2]) + "\n\n{broken\n" + lines[2] + "\n", encoding="utf-8")
    records = list(open_source(path).records())
    assert isinstance(open_source(path), JsonLinesSource)
    good = [r for r in records if r.error is None]
    assert {r.id: r.text for r in good} == CAPTIONS
    bad = [r for r in records if r.error is not None]
    assert len(bad) == 1 and bad[0].where.endswith("metadata.jsonl:4")
    assert bad[0].error is not None and bad[0].error.startswith("invalid JSON")
    out = tmp_path / "out" / "metadata.jsonl"
    out.parent.mkdir()
    _write_all(open_sink(out, command="test"), good)
    back = list(open_source(out).records())
    assert {r.id: r.text for r in back} == CAPTIONS


def test_sd_scripts_metadata_reads_caption_and_tags_as_the_trainer_does(tmp_path: Path) -> None:
    path = tmp_path / "meta_cap.json"
    doc = {
        "img1": {"caption": "A girl smiling.", "tags": "1girl, smile", "train_resolution": [1024]},
        "img2": {"tags": "1boy"},
        "img3": {"caption": "Just a caption."},
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    source = open_source(path)
    assert isinstance(source, MetadataJsonSource)
    records = list(source.records())
    assert source.shape == "sd-scripts"
    assert [(r.id, r.text) for r in records] == [
        ("img1", "A girl smiling., 1girl, smile"),
        ("img2", "1boy"),
        ("img3", "Just a caption."),
    ]
    only_tags = list(open_source(path, column="tags").records())
    assert only_tags[0].text == "1girl, smile" and only_tags[2].error == "no 'tags' field"
    out = tmp_path / "meta_anima.json"
    _write_all(open_sink(out, command="test"), records, {r.id: f"new {r.id}" for r in records})
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["img1"] == {"caption": "new img1", "train_resolution": [1024]}
    assert list(written) == ["img1", "img2", "img3"]


def test_diffusion_pipe_captions_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "captions.json"
    doc = {"a.png": ["safe, 1girl", "A girl."], "b.png": "safe, 1boy", "c.png": ["safe, cat"]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    source = open_source(path)
    records = list(source.records())
    assert source.shape == "captions"
    assert [(r.id, r.text) for r in records] == [
        ("a.png#0", "safe, 1girl"),
        ("a.png#1", "A girl."),
        ("b.png", "safe, 1boy"),
        ("c.png", "safe, cat"),
    ]
    out = tmp_path / "out"
    out.mkdir()
    _write_all(open_sink(out / "captions.json", command="test"), records)
    written = json.loads((out / "captions.json").read_text(encoding="utf-8"))
    assert written == {
        "a.png": ["safe, 1girl", "A girl."],
        "b.png": ["safe, 1boy"],
        "c.png": ["safe, cat"],
    }


def test_malformed_json_document_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "captions.json"
    path.write_text('{"a.png": "safe",\n "b.png": }', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"captions\.json:2:\d+: invalid JSON"):
        list(open_source(path).records())


def _tar(path: Path, members: list[tuple[str, bytes]], *, link: str | None = None) -> None:
    with tarfile.open(path, "w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            archive.addfile(info)


def test_webdataset_shard_is_read_safely_and_never_written(tmp_path: Path) -> None:
    path = tmp_path / "shard-000.tar"
    _tar(
        path,
        [
            ("0001.jpg", b"\xff\xd8not really a jpeg"),
            ("0001.txt", b"safe, 1girl, smile"),
            ("sub/0002.json", json.dumps({"caption": "safe, 1boy", "width": 512}).encode()),
            ("0003.txt", b"\xff\xfe\x00bad"),
            ("../escape.txt", b"safe, evil"),
            ("/abs.txt", b"safe, evil"),
            ("0004.txt", b"x" * (_sources.MAX_CAPTION_BYTES + 1)),
        ],
        link="0005.txt",
    )
    before = path.read_bytes()
    source = open_source(path)
    assert isinstance(source, WebDatasetSource)
    records = list(source.records())
    by_id = {r.id: r for r in records}
    assert by_id["0001"].text == "safe, 1girl, smile" and by_id["0001"].error is None
    assert by_id["sub/0002"].text == "safe, 1boy"
    assert by_id["0003"].error is not None and "UTF-16" in by_id["0003"].error
    unsafe = [r for r in records if r.error and "unsafe member name" in r.error]
    assert len(unsafe) == 2 and all(r.text == "" for r in unsafe)
    assert "refused" in (by_id["0004"].error or "")
    assert "not a regular file" in (by_id["0005"].error or "")
    assert path.read_bytes() == before
    assert not (tmp_path.parent / "escape.txt").exists()
    with pytest.raises(UsageError, match="read-only"):
        open_sink(tmp_path / "out.tar", command="test")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(DatasetError, match=r"junk\.tar"):
        list(open_source(tmp_path / "junk.tar").records())


def test_folder_source_and_journaled_folder_sink(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, text in CAPTIONS.items():
        (data / name.replace(".png", ".txt")).write_text(text, encoding="utf-8")
    (data / "a.png").write_bytes(b"png")
    (data / "bad.txt").write_bytes(b"\xff\xfe\x00x")
    source = open_source(data)
    assert isinstance(source, FolderSource)
    records = list(source.records())
    assert [r.id for r in records] == ["a.txt", "b.txt", "bad.txt", "c.txt"]
    assert records[2].error is not None
    assert [p.name for p in source.images()] == ["a.png"]
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old caption", encoding="utf-8")
    sink = open_sink(out, command="test", sources=[data])
    good = [r for r in records if r.error is None]
    _write_all(sink, good, {r.id: r.text.upper() for r in good})
    assert (out / "b.txt").read_text(encoding="utf-8") == CAPTIONS["b.png"].upper()
    undo(out)
    assert (out / "a.txt").read_text(encoding="utf-8") == "old caption"
    assert not (out / "b.txt").exists()
    with pytest.raises(UsageError, match="inside the dataset"):
        open_sink(data / "sub", command="test", sources=[data])


def test_danbooru_caption_from_category_columns() -> None:
    row = {
        "tag_string_general": "1girl long_hair ^_^ solo side_ponytail",
        "tag_string_character": "hatsune_miku",
        "tag_string_copyright": "vocaloid",
        "tag_string_artist": "nnn_yryr",
        "tag_string_meta": "highres commentary_request bad_id",
        "rating": "q",
    }
    assert danbooru_caption(row) == (
        "highres, nsfw, 1girl, hatsune miku, vocaloid, @nnn yryr, long hair, ^_^, solo, "
        "side ponytail"
    )
    captioner = DanbooruCaptioner(prefix="masterpiece, best quality, safe")
    text, changes = captioner.caption({**row, "rating": "e"})
    assert text.startswith("masterpiece, best quality, highres, explicit, 1girl")
    assert ("rating", "rating:e", "explicit") in changes
    assert ("meta-dropped", "bad_id", "") in changes
    assert ("artist-at", "nnn_yryr", "@nnn yryr") in changes
    # a tag the parser reads as one item is kept whole; one it would split is dropped
    assert captioner.name("super_smash_bros.") == "super smash bros."
    assert captioner.name("the_super_mario_bros._movie") is None
    assert captioner.name(">_<") == ">_<"
    with pytest.raises(ValueError, match="rating 'x'"):
        captioner.caption({**row, "rating": "x"})
    assert DanbooruCaptioner().caption({"tag_string_general": None, "rating": None}) == ("", [])


def test_danbooru_parquet_and_jsonl(tmp_path: Path) -> None:
    rows = {
        "id": [10, 11],
        "md5": ["aa", "bb"],
        "tag_string_general": ["1girl smile", "no_humans scenery"],
        "tag_string_character": ["", ""],
        "tag_string_copyright": ["original", ""],
        "tag_string_artist": ["wlop", ""],
        "tag_string_meta": ["absurdres", ""],
        "rating": ["g", "z"],
    }
    path = tmp_path / "posts.parquet"
    pq.write_table(pa.table(rows), path)
    source = open_source(path)  # detected by its columns
    assert isinstance(source, DanbooruSource)
    records = list(source.records())
    assert records[0].id == "10"
    assert records[0].text == "absurdres, safe, 1girl, original, @wlop, smile"
    assert records[1].error == "rating 'z' is not one of g, s, q, e"
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({k: v[0] for k, v in rows.items()}) for _ in range(1)) + "\n",
        encoding="utf-8",
    )
    assert [r.text for r in open_source(jsonl, fmt="danbooru").records()] == [records[0].text]
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"caption": ["x"]}), plain)
    with pytest.raises(UsageError, match="not Danbooru post metadata"):
        list(open_source(plain, fmt="danbooru").records())


def test_shards_partition_the_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.parquet"
    texts = [f"safe, 1girl, tag{i}" for i in range(1000)]
    pq.write_table(pa.table({"caption": texts}), path, row_group_size=64)
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    monkeypatch.setattr(_sources, "LINES_PER_UNIT", 50)
    for source_path in (path, jsonl):
        seen: list[str] = []
        for index in range(3):
            shard = ShardFilter(3, index)
            part = [r.text for r in open_source(source_path).records(shard)]
            assert 200 < len(part) < 450  # spread over the shards
            seen.extend(part)
        assert sorted(seen) == sorted(texts)
    with pytest.raises(UsageError, match="--shard-index"):
        ShardFilter(2, 2)
