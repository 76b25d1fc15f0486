"""Issue 15 item 13: a run that checked nothing, or wrote nothing, must not say otherwise.

A CI job pointed at the wrong folder used to stay green ("All checks passed!", exit 0),
``check --fix --diff`` said "Fixed 12 problems." while writing nothing, a ``.caption``
dataset was skipped without a word, and ``policy apply``'s dry run exited 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anima_caption.cli import main

CAPTION = "masterpiece, safe, 1girl,  solo,, long_hair\n"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_folder_without_captions_is_exit_2_not_all_checks_passed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    (tmp_path / "notes.md").write_text("not a caption\n")
    assert main(["check", str(tmp_path), "--format", fmt, "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert "All checks passed" not in out
    assert err.count("\n") == 1 and "no caption files (.txt) found" in err
    # --exit-zero keeps problems green, never a check of nothing
    assert main(["check", str(tmp_path), "--exit-zero", "--no-progress"]) == 2


def test_images_without_any_caption_are_reported_and_still_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    assert main(["check", str(tmp_path), "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert "a.png" in out and "DS001" in out
    assert "no caption files (.txt) found" in err


def test_fix_diff_says_would_fix_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text(CAPTION)
    before = _files(tmp_path)
    main(["check", str(tmp_path), "--fix", "--diff", "--no-progress"])
    out = capsys.readouterr().out
    assert "+masterpiece, safe, 1girl, solo, long hair" in out
    assert "Fixed" not in out
    assert "Would fix 3 problems (nothing was written)." in out
    assert _files(tmp_path) == before
    assert main(["check", str(tmp_path), "--fix", "--no-progress"]) in (0, 1)
    assert "Fixed 3 problems." in capsys.readouterr().out


def test_ext_checks_other_caption_extensions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.caption").write_text(CAPTION)
    (tmp_path / "b.txt").write_text("masterpiece, safe, 1girl, solo\n")
    assert main(["check", str(tmp_path), "--ext", "caption", "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert found and {Path(d["path"]).name for d in found} == {"a.caption"}
    main(["check", str(tmp_path), "--ext", ".caption", "--ext", "txt", "--fix"])
    capsys.readouterr()
    assert (tmp_path / "a.caption").read_text() == "masterpiece, safe, 1girl, solo, long hair\n"
    assert main(["check", str(tmp_path), "--ext", ""]) == 2
    assert "not a file extension" in capsys.readouterr().err


def test_policy_apply_dry_run_exits_0_like_the_other_dry_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("kanachan, 1girl, brown hair, smile\n")
    (tmp_path / "b.txt").write_text("kanachan, 1girl, brown hair, frown\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("triggers:\n  kanachan:\n    core: [brown hair]\n")
    before = _files(tmp_path)
    assert main(["policy", "apply", str(tmp_path), "--policy", str(policy)]) == 0
    out, err = capsys.readouterr()
    assert "-kanachan, 1girl, brown hair, smile" in out
    assert "2 caption(s) would change" in err
    assert _files(tmp_path) == before
