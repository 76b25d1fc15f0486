"""The command line, run in-process through ``main(argv)``: exit codes, output, files on disk."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from anima_caption import __version__
from anima_caption.cli import main
from tests.conftest import EXAMPLES


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target)
    return target


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.txt"))}


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "format" in capsys.readouterr().err


def test_unknown_option_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["format", "--bogus", "x"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus" in err and "Traceback" not in err


def test_format_dry_run_shows_diff_and_writes_nothing(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(dataset)
    assert main(["format", str(dataset), "--trigger", "kanachan"]) == 0
    out, err = capsys.readouterr()
    assert "-1girl, solo, long_hair" in out and "+1girl, solo, long hair" in out
    assert "would be reformatted" in err
    assert _snapshot(dataset) == before


def test_format_check_exits_1_then_write_then_check_exits_0(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["format", str(dataset), "--check", "--trigger", "kanachan"]) == 1
    assert "would reformat" in capsys.readouterr().err
    assert main(["format", str(dataset), "--write", "--trigger", "kanachan"]) == 0
    wd14 = (dataset / "sdxl" / "wd14_tagger_001.txt").read_text()
    assert wd14.startswith("1girl, solo, long hair, looking at viewer") and wd14.endswith("\n")
    assert main(["format", str(dataset), "--check", "--trigger", "kanachan"]) == 0
    assert "0 files would be reformatted" in capsys.readouterr().err


def test_format_write_is_journaled_and_undo_restores(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(dataset)
    assert main(["format", str(dataset), "--write", "--trigger", "kanachan"]) == 0
    err = capsys.readouterr().err
    assert f"undo with: anima-caption undo {dataset.resolve()}" in err
    assert _snapshot(dataset) != before
    assert main(["undo", str(dataset)]) == 0
    assert _snapshot(dataset) == before


def test_format_reports_bad_files_and_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.txt").write_bytes(b"sm\xffile")
    (tmp_path / "broken.txt").write_text("1girl, (smile")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "good.txt").write_text("Smile, 1girl")
    assert main(["format", str(tmp_path), "--write"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.txt'}: invalid UTF-8" in err
    assert f"{tmp_path / 'broken.txt'}:1:8: bracket is never closed" in err
    assert "empty caption" in err
    assert "Traceback" not in err
    assert (tmp_path / "bad.txt").read_bytes() == b"sm\xffile"  # never touched
    assert (tmp_path / "good.txt").read_text() == "1girl, smile"


def test_format_removes_bom_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes(b"\xef\xbb\xbf1girl, smile")
    assert main(["format", str(path)]) == 0
    assert "byte-order mark removed" in capsys.readouterr().out
    assert main(["format", str(path), "--write"]) == 0
    assert path.read_bytes() == b"1girl, smile"


def test_format_missing_path_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["format", str(tmp_path / "nope")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_parse_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "kanachan" / "kanachan_angry.txt"
    assert main(["parse", str(path), "--trigger", "kanachan"]) == 0
    out = capsys.readouterr().out
    assert "trigger    character  kanachan" in out
    assert "sentence" in out and "A close-up portrait" in out


def test_parse_json_output_is_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "sdxl" / "illustrious_003.txt"
    assert main(["parse", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    types = [item["type"] for item in data["items"]]
    assert "group" in types and "wildcard" in types
    escaped = [i for i in data["items"] if i["type"] == "tag" and i["escaped"]]
    assert escaped[0]["text"] == "ganyu (genshin impact)"


def test_parse_reports_errors_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.txt"
    path.write_text("1girl, smile)")
    assert main(["parse", str(path)]) == 1
    assert "closing bracket without an opening one" in capsys.readouterr().out


def test_parse_binary_file_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes(b"\x00\x01\x02")
    assert main(["parse", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "binary file" in err


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anima_caption", "format", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "--check" in result.stdout and "examples:" in result.stdout


def test_building_the_command_line_stays_light() -> None:
    """Every start of ``anima-caption`` builds the whole parser, and ``check`` runs in
    pre-commit hooks: the subcommand modules must import their heavy machinery inside the
    functions that run the command, not at module level."""
    import subprocess
    import sys

    heavy = (
        "pydantic", "yaml", "lark", "sqlite3", "openpyxl", "PIL", "anima_caption._model",
        "starlette", "uvicorn", "jinja2",  # review serve only
    )
    script = (
        "import sys\n"
        "from anima_caption.cli import build_parser\n"
        "build_parser()\n"
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == [], (
        f"building the CLI parser imported {loaded}: move those imports in the feature's "
        "cli.py into the functions that run the command"
    )
