"""``check --jobs N`` over a dataset file: worker processes find what one process finds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anima_caption.cli import main
from tests.conftest import EXAMPLES


def test_check_jobs_2_finds_what_one_process_finds(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    small_db_path: Path,
) -> None:
    folder = tmp_path / "k"
    shutil.copytree(EXAMPLES / "kanachan", folder)
    (folder / "under.txt").write_text("safe, 1girl, kanachan, long_hair", encoding="utf-8")
    (folder / "dup.txt").write_text("safe, 1girl, kanachan, long_hair", encoding="utf-8")
    names = sorted(p.name for p in folder.glob("*.txt"))
    texts = [(folder / n).read_text(encoding="utf-8") for n in names]
    table = pa.table({"file_name": names, "caption": texts})
    pq.write_table(table, tmp_path / "data.parquet", row_group_size=3)  # several units
    monkeypatch.chdir(tmp_path)
    argv = ["check", "data.parquet", "--column", "caption", "--trigger", "kanachan"]
    argv += ["--db", str(small_db_path), "--format", "json", "--no-progress"]
    assert main([*argv, "--jobs", "1"]) == 1
    one = capsys.readouterr().out
    assert main([*argv, "--jobs", "2"]) == 1
    two = capsys.readouterr().out
    assert '"DS003"' in one and '"TG001"' in one  # dataset and caption rules both found
    assert two == one
    assert main([*argv, "--jobs", "2", "--out", "x.parquet"]) == 2
    assert "--jobs above 1" in capsys.readouterr().err
