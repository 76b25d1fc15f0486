"""``format``, ``report``, ``policy report`` and ``train`` over dataset files (issue 17:
every command that reads a dataset takes any source), through ``main(argv)``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from anima_caption.cli import main
from tests.conftest import EXAMPLES

CAPTIONS = {
    "a.png": "masterpiece, safe, 1girl, kanachan, smile, long_hair",
    "b.png": "1girl, safe, kanachan, red eyes, smile",
    "c.png": "safe, 1girl, kanachan, blonde hair, sitting",
}


def _jsonl(folder: Path, captions: dict[str, str] = CAPTIONS) -> Path:
    path = folder / "metadata.jsonl"
    path.write_text(
        "".join(json.dumps({"file_name": k, "text": v}) + "\n" for k, v in captions.items()),
        encoding="utf-8",
    )
    return path


def _parquet(folder: Path, captions: dict[str, str] = CAPTIONS) -> Path:
    path = folder / "data.parquet"
    pq.write_table(pa.table({"image": list(captions), "caption": list(captions.values())}), path)
    return path


def _images(folder: Path, names: list[str]) -> None:
    for name in names:
        Image.new("RGB", (32, 32), (200, 100, 50)).save(folder / name)


# -- format ----------------------------------------------------------------------------------


def test_format_over_jsonl_shows_a_diff_per_caption_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = _jsonl(tmp_path)
    before = source.read_bytes()
    code = main(["format", "metadata.jsonl"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "--- a/metadata.jsonl[a.png]" in out
    assert "+masterpiece, safe, 1girl, kanachan, smile, long hair" in out
    assert "--- a/metadata.jsonl[b.png]" in out  # sections put in order: safe first
    assert "2 captions would be reformatted, 1 unchanged" in err
    assert source.read_bytes() == before


def test_format_check_over_parquet_exits_1_and_out_writes_every_caption(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _parquet(tmp_path)
    assert main(["format", "data.parquet", "--check"]) == 1
    assert "would reformat data.parquet[a.png]" in capsys.readouterr().err
    assert main(["format", "data.parquet", "--out", "formatted.parquet"]) == 0
    table = pq.read_table("formatted.parquet")
    assert table.column("id").to_pylist() == list(CAPTIONS)
    assert table.column("caption").to_pylist() == [
        "masterpiece, safe, 1girl, kanachan, smile, long hair",
        "safe, 1girl, kanachan, red eyes, smile",
        "safe, 1girl, kanachan, blonde hair, sitting",
    ]
    assert main(["format", "formatted.parquet", "--check", "--column", "caption"]) == 0


def test_format_write_refuses_a_dataset_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _jsonl(tmp_path)
    assert main(["format", str(source), "--write"]) == 2
    assert "a dataset file is never rewritten" in capsys.readouterr().err


def test_format_reports_an_unreadable_row_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("m.jsonl").write_text(
        '{"file_name": "a.png", "text": "1girl, safe"}\n{"file_name": "b.png", "text": 3}\n',
        encoding="utf-8",
    )
    assert main(["format", "m.jsonl"]) == 1
    out, err = capsys.readouterr()
    assert "m.jsonl[b.png]: 'text' is int, not text" in err
    assert "+safe, 1girl" in out


# -- policy report ---------------------------------------------------------------------------


def test_policy_report_over_parquet_matches_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "kanachan"
    shutil.copytree(EXAMPLES / "kanachan", folder)
    names = sorted(p.name for p in folder.glob("*.txt"))
    texts = [(folder / n).read_text(encoding="utf-8") for n in names]
    pq.write_table(pa.table({"file_name": names, "caption": texts}), tmp_path / "k.parquet")
    policy = str(EXAMPLES / "kanachan-policy.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["policy", "report", "kanachan", "--policy", policy, "--format", "json"]) == 0
    from_folder = json.loads(capsys.readouterr().out)
    assert main(["policy", "report", "k.parquet", "--policy", policy, "--format", "json"]) == 0
    from_table = json.loads(capsys.readouterr().out)
    assert from_folder["triggers"], "the example dataset has a trigger to report on"
    assert json.dumps(from_table["triggers"], sort_keys=True).replace(
        "k.parquet[", ""
    ).replace(".txt]", ".txt") == json.dumps(from_folder["triggers"], sort_keys=True).replace(
        "kanachan/", ""
    )


def test_policy_apply_write_refuses_a_dataset_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _jsonl(tmp_path)
    policy = str(EXAMPLES / "kanachan-policy.yaml")
    assert main(["policy", "apply", str(source), "--policy", policy, "--write"]) == 2
    assert "never rewritten in place" in capsys.readouterr().err


# -- report (HTML) ---------------------------------------------------------------------------


def test_report_over_jsonl_shows_each_record_its_image_and_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _jsonl(tmp_path)
    _images(tmp_path, ["a.png", "b.png"])  # c.png is missing
    code = main(
        ["report", "metadata.jsonl", "--out", "r.html", "--no-progress", "--trigger", "kanachan"]
    )
    assert code == 0, capsys.readouterr().err
    assert "wrote r.html: 3 images and captions" in capsys.readouterr().err
    page = Path("r.html").read_text(encoding="utf-8")
    assert page.count("data:image/") >= 2  # the two images beside the file, inlined
    for name in CAPTIONS:
        assert f"metadata.jsonl[{name}]" in page
    assert "TG001" in page  # long_hair in a.png


# -- train -----------------------------------------------------------------------------------


def test_train_over_jsonl_pairs_images_and_writes_the_captions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _jsonl(data)
    _images(data, ["a.png", "b.png", "c.png"])
    monkeypatch.chdir(tmp_path)
    argv = ["train", "kohya", "data/metadata.jsonl", "--trigger", "kanachan", "--out", "run"]
    code = main([*argv, "--force"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 images, 3 captions" in out
    written = sorted((tmp_path / "run" / "dataset").rglob("*.txt"))
    assert [p.name for p in written] == ["a.txt", "b.txt", "c.txt"]
    assert written[1].read_text(encoding="utf-8") == CAPTIONS["b.png"]
    assert not list(data.glob("*.txt"))  # nothing written beside the dataset


def test_train_over_parquet_reports_captions_without_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _parquet(data)
    _images(data, ["a.png"])
    monkeypatch.chdir(tmp_path)
    argv = ["train", "kohya", "data/data.parquet", "--column", "caption", "--out", "run"]
    main([*argv, "--dry-run", "--trigger", "kanachan"])
    out = capsys.readouterr().out
    assert "1 image, 1 caption" in out
    assert "2 caption files have no image beside them" in out
