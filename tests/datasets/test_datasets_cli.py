"""``check`` / ``convert`` over dataset files, shards and ``merge``, through ``main(argv)``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anima_caption.cli import main
from tests.conftest import EXAMPLES

# SDXL-era and Anima captions with a duplicate pair and a swapped-looking file name, so
# that caption rules and dataset rules both have something to say.
EXTRA = {
    "dup_one.txt": "masterpiece, safe, 1girl, kanachan, smile, long_hair",
    "dup_two.txt": "masterpiece, safe, 1girl, kanachan, smile, long_hair",
    "weights.txt": "1girl, (smile:1.2), BREAK, Kanachan, general\n\nA girl.",
}


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "folder"
    folder.mkdir()
    for caption in sorted(EXAMPLES.glob("kanachan/*.txt")):
        shutil.copy(caption, folder / caption.name)
    for name, text in EXTRA.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _check_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    code = main(["check", *argv, "--format", "json", "--no-progress", "--trigger", "kanachan"])
    return code, json.loads(capsys.readouterr().out)


def _by_caption(found: list[dict], prefix: str) -> list[tuple[str, ...]]:  # type: ignore[type-arg]
    """Findings keyed by caption file name, other captions' names in messages likewise."""
    out = []
    for d in found:
        name = d["path"].removeprefix(prefix).strip("[]")
        message = re.sub(re.escape(prefix) + r"\[?([^\]\s,:]+\.txt)\]?", r"\1", d["message"])
        out.append((name, str(d["line"]), str(d["column"]), d["code"], message))
    return sorted(out)


def test_check_over_parquet_finds_what_check_over_the_folder_finds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path)
    names = sorted(p.name for p in folder.glob("*.txt"))
    texts = [(folder / n).read_text(encoding="utf-8") for n in names]
    pq.write_table(pa.table({"file_name": names, "caption": texts}), tmp_path / "data.parquet")
    monkeypatch.chdir(tmp_path)
    folder_code, from_folder = _check_json(capsys, ["folder"])
    table_code, from_table = _check_json(capsys, ["data.parquet", "--column", "caption"])
    assert folder_code == table_code == 1
    assert {d["code"] for d in from_folder} >= {"TG001", "PS001", "DS003", "DS006"}
    assert _by_caption(from_table, "data.parquet") == _by_caption(from_folder, "folder/")


def test_check_over_jsonl_reports_a_malformed_line_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("metadata.jsonl").write_text(
        '{"file_name": "a.png", "text": "masterpiece, safe, 1girl, kanachan"}\n'
        '{"file_name": "b.png", "text": "safe, 1girl, \n'
        '{"file_name": "c.png", "text": "safe, 1girl, long_hair, kanachan"}\n',
        encoding="utf-8",
    )
    code = main(["check", "metadata.jsonl", "--trigger", "kanachan", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "metadata.jsonl[line 2]:1:1: error FL001/decode-error invalid JSON" in out
    assert "metadata.jsonl[c.png]:1:14: error TG001/underscore-in-tag" in out
    assert "Traceback" not in out + err


def test_missing_column_is_a_usage_error_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pq.write_table(pa.table({"file_name": ["a"], "prompt": ["safe"]}), "data.parquet")
    code = main(["check", "data.parquet", "--column", "caption"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "anima-caption: error: data.parquet: no column 'caption' (columns: file_name, prompt); "
        "name it with --column"
    ]
    Path("broken.parquet").write_bytes(b"PAR1 this is not parquet")
    assert main(["check", "broken.parquet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("anima-caption: error: broken.parquet: not a parquet file")
    assert "Traceback" not in err


def test_convert_danbooru_parquet_to_anima_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pq.write_table(
        pa.table(
            {
                "id": [1, 2],
                "tag_string_general": ["1girl long_hair smile", "no_humans scenery"],
                "tag_string_character": ["hatsune_miku", ""],
                "tag_string_copyright": ["vocaloid", ""],
                "tag_string_artist": ["wlop", ""],
                "tag_string_meta": ["highres translated", ""],
                "rating": ["s", "g"],
            }
        ),
        "meta.parquet",
    )
    code = main(
        ["convert", "meta.parquet", "--from", "danbooru", "--out", "anima.parquet", "--prefix",
         "masterpiece, best quality"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    rows = pq.read_table("anima.parquet").to_pylist()
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["caption"] == (
        "masterpiece, best quality, highres, sensitive, 1girl, hatsune miku, vocaloid, @wlop, "
        "long hair, smile"
    )
    assert rows[1]["caption"] == "masterpiece, best quality, safe, no humans, scenery"
    assert {"rule": "artist-at", "old": "wlop", "new": "@wlop"} in rows[0]["changes"]
    assert "2 captions written to anima.parquet" in err
    # the written captions are clean Anima captions
    assert main(["check", "anima.parquet", "--select", "TG,SF,OR", "--no-progress"]) == 0


def test_convert_jsonl_to_folder_and_json_sinks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("metadata.jsonl").write_text(
        '{"file_name": "a.png", "text": "1girl, long_hair, general"}\n'
        '{"file_name": "b.png", "text": "(smile"}\n',
        encoding="utf-8",
    )
    assert main(["convert", "metadata.jsonl", "--from", "sdxl", "--out", "out/"]) == 1
    err = capsys.readouterr().err
    assert "metadata.jsonl:2: " in err and "not converted" in err
    assert Path("out/a.txt").read_text(encoding="utf-8") == "safe, 1girl, long hair"
    assert main(["undo", "out"]) == 0
    assert not Path("out/a.txt").exists()
    assert main(["convert", "metadata.jsonl", "--from", "sdxl", "--out", "meta.json"]) == 1
    assert json.loads(Path("meta.json").read_text(encoding="utf-8")) == {
        "a.png": {"caption": "safe, 1girl, long hair"}
    }
    assert main(["convert", "metadata.jsonl", "--from", "sdxl", "--write"]) == 2
    assert "never rewritten" in capsys.readouterr().err


def test_check_fix_out_writes_fixed_captions_and_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pq.write_table(pa.table({"caption": ["safe, 1girl, long_hair", "safe, 1girl"]}), "in.parquet")
    assert main(["check", "in.parquet", "--fix", "--out", "fixed.jsonl", "--no-progress"]) == 0
    lines = [json.loads(x) for x in Path("fixed.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [x["text"] for x in lines] == ["safe, 1girl, long hair", "safe, 1girl"]
    assert lines[0]["file_name"] == "0" and lines[0]["diagnostics"] == []
    assert main(["check", "in.parquet", "--fix"]) == 2  # the source is never rewritten


def test_shards_and_merge_find_what_one_run_finds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = _folder(tmp_path)
    names = sorted(p.name for p in folder.glob("*.txt"))
    for index, group in enumerate((names[::2], names[1::2])):  # the duplicates split up
        texts = [(folder / n).read_text(encoding="utf-8") for n in group]
        pq.write_table(pa.table({"file_name": group, "caption": texts}), f"part-{index}.parquet")
    files = ["part-0.parquet", "part-1.parquet"]
    whole_code, whole = _check_json(capsys, files)
    shard_codes = []
    for index in range(2):
        argv = [*files, "--num-shards", "2", "--shard-index", str(index)]
        code, found = _check_json(capsys, [*argv, "--summary", f"s{index}.json.gz"])
        shard_codes.append(code)
        assert not any(d["code"].startswith("DS") for d in found)  # merge runs those
    assert main(["merge", "s0.json.gz", "s1.json.gz", "--format", "json"]) == whole_code == 1
    merged = json.loads(capsys.readouterr().out)
    dataset = [d for d in whole if d["code"].startswith("DS")]
    assert {d["code"] for d in dataset} >= {"DS003", "DS006"}
    assert sorted(map(json.dumps, merged)) == sorted(map(json.dumps, dataset))
    assert main(["merge", "s0.json.gz", "s0.json.gz"]) == 2
    assert "again" in capsys.readouterr().err
    Path("junk.json").write_text("{}", encoding="utf-8")
    assert main(["merge", "junk.json"]) == 1
    assert "not a shard summary" in capsys.readouterr().err
