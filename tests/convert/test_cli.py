"""convert / edit / undo through the real CLI, against files on disk."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anima_caption._convert._bulk import run_bulk
from anima_caption.cli import main
from tests.conftest import EXAMPLES


@pytest.fixture
def sdxl(tmp_path: Path) -> Path:
    root = tmp_path / "sdxl"
    shutil.copytree(EXAMPLES / "sdxl", root)
    (root / "img.png").write_bytes(b"\x89PNG fake image")
    return root


@pytest.fixture
def kanachan(tmp_path: Path) -> Path:
    root = tmp_path / "kanachan"
    shutil.copytree(EXAMPLES / "kanachan", root)
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".anima-caption" not in p.parts
    }


def test_convert_dry_run_shows_a_diff_and_writes_nothing(
    sdxl: Path, real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(sdxl)
    code = main(["convert", str(sdxl), "--from", "pony", "--db", str(real_tagdb_path)])
    out, err = capsys.readouterr()
    assert code == 0
    assert _snapshot(sdxl) == before
    assert "-score_9, score_8_up" in out
    assert "+score_9, safe, 1girl, hatsune miku, vocaloid, twintails" in out
    assert "changes by rule:" in err and "alias 1" in err
    assert "would be converted" in err and "--write" in err


def test_convert_write_then_undo(
    sdxl: Path, real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(sdxl)
    argv = [
        "convert",
        str(sdxl),
        "--from",
        "sdxl",
        "--db",
        str(real_tagdb_path),
        "--prefix",
        "masterpiece, best quality, score_7",
        "--trigger",
        "Yanagise Eika",
    ]
    assert main([*argv, "--write"]) == 0
    text = (sdxl / "illustrious_003.txt").read_text(encoding="utf-8")
    assert text.startswith("masterpiece, best quality, score_7, newest")
    assert "@nnn yryr" in text and "\\(" not in text
    # converting again changes nothing
    capsys.readouterr()
    assert main([*argv, "--check"]) == 0
    assert "0 files would be converted" in capsys.readouterr().err
    assert main(["undo", str(sdxl)]) == 0
    assert _snapshot(sdxl) == before


def test_convert_out_mirrors_the_dataset(sdxl: Path, tmp_path: Path, real_tagdb_path: Path) -> None:
    before = _snapshot(sdxl)
    out = tmp_path / "anima"
    code = main(
        ["convert", str(sdxl), "--from", "wd14", "--db", str(real_tagdb_path), "--out", str(out)]
    )
    assert code == 0
    assert _snapshot(sdxl) == before  # the source is untouched
    assert (out / "img.png").read_bytes() == b"\x89PNG fake image"
    assert (out / "img.png").stat().st_ino == (sdxl / "img.png").stat().st_ino  # hard link
    assert (out / "wd14_tagger_001.txt").read_text(encoding="utf-8").startswith("safe, 1girl")
    assert set(_snapshot(out)) == set(before)
    # undo in the mirror removes the converted captions it created
    assert main(["undo", str(out)]) == 0
    assert not (out / "wd14_tagger_001.txt").exists()


def test_convert_out_inside_the_dataset_is_a_usage_error(sdxl: Path) -> None:
    code = main(["convert", str(sdxl), "--from", "wd14", "--out", str(sdxl / "out")])
    assert code == 2


def test_undecodable_files_are_reported_and_left_untouched(
    sdxl: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = sdxl / "latin1.txt"
    bad.write_bytes("1girl, caf\xe9".encode("latin-1"))
    code = main(["convert", str(sdxl), "--from", "wd14", "--write"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{bad}: invalid UTF-8" in err and "left untouched" in err
    assert bad.read_bytes() == "1girl, caf\xe9".encode("latin-1")
    assert "Traceback" not in err


def test_syntax_errors_are_one_line_and_leave_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.txt"
    path.write_text("1girl, (smile, solo", encoding="utf-8")
    assert main(["convert", str(tmp_path), "--from", "sdxl", "--write"]) == 1
    err = capsys.readouterr().err
    assert f"{path}: 1:8: bracket is never closed" in err
    assert path.read_text(encoding="utf-8") == "1girl, (smile, solo"


def test_missing_from_is_a_usage_error(sdxl: Path) -> None:
    assert main(["convert", str(sdxl)]) == 2


def test_a_file_changed_between_read_and_write_is_not_overwritten(tmp_path: Path) -> None:
    for n in range(3):
        (tmp_path / f"{n}.txt").write_text("1girl, long_hair", encoding="utf-8")
    victim = tmp_path / "1.txt"

    def transform(text: str, path: Path) -> tuple[str, list[str]]:
        if path == victim:
            victim.write_text("someone else's edit", encoding="utf-8")
        return text.replace("_", " "), ["underscore"]

    report = run_bulk([str(tmp_path)], transform, command="test", write=True, diff=False)
    assert victim.read_text(encoding="utf-8") == "someone else's edit"
    assert len(report.failed) == 1 and "changed on disk" in report.failed[0]
    assert (tmp_path / "0.txt").read_text(encoding="utf-8") == "1girl, long hair"
    assert report.written == 2


# -- edit: the seed's edits, one command each -------------------------------------------------


def test_seed_edit_remove_leaked_core_tags(
    kanachan: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nude = kanachan / "kanachan_nude.txt"
    before = nude.read_text(encoding="utf-8")
    assert "brown eyes, brown hair" in before
    code = main(
        ["edit", str(kanachan), "--remove", "brown hair", "--remove", "brown eyes", "--write"]
    )
    assert code == 0
    after = nude.read_text(encoding="utf-8")
    assert "brown" not in after
    assert after == before.replace("brown eyes, brown hair, ", "")
    assert main(["undo", str(kanachan)]) == 0
    assert nude.read_text(encoding="utf-8") == before


def test_seed_edit_left_side_ponytail(kanachan: Path) -> None:
    bikini = kanachan / "kanachan_bikini.txt"
    before = bikini.read_text(encoding="utf-8")
    assert (
        main(["edit", str(kanachan), "--replace", "left side ponytail=side ponytail", "--write"])
        == 0
    )
    after = bikini.read_text(encoding="utf-8")
    assert "left side ponytail" not in after
    # the sentence is not touched without --in-text
    assert "Her bound hair" in after
    assert after == before.replace("left side ponytail,", "side ponytail,")


def test_seed_edit_bound_hair_in_text(kanachan: Path) -> None:
    bikini = kanachan / "kanachan_bikini.txt"
    before = bikini.read_text(encoding="utf-8")
    assert (
        main(
            ["edit", str(kanachan), "--replace", "bound hair=side ponytail", "--in-text", "--write"]
        )
        == 0
    )
    after = bikini.read_text(encoding="utf-8")
    assert after == before.replace("Her bound hair", "Her side ponytail")


def test_edit_is_tag_aware_never_substrings(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(
        "1girl, Brown_Hair, brown hairband, hair, She has brown hair.\n", encoding="utf-8"
    )
    assert main(["edit", str(path), "--remove", "brown hair", "--write"]) == 0
    assert path.read_text(encoding="utf-8") == (
        "1girl, brown hairband, hair, She has brown hair.\n"
    )


def test_edit_add_at_section_where_and_regex(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("safe, 1girl, kanachan, side ponytail, red footwear", encoding="utf-8")
    b.write_text("safe, 1girl, kanachan, twintails", encoding="utf-8")
    assert (
        main(
            [
                "edit",
                str(tmp_path),
                "--add",
                "blue scrunchie",
                "--where",
                "side ponytail",
                "--trigger",
                "kanachan",
                "--write",
            ]
        )
        == 0
    )
    assert a.read_text(encoding="utf-8").endswith("red footwear, blue scrunchie")
    assert "scrunchie" not in b.read_text(encoding="utf-8")
    assert main(["edit", str(tmp_path), "--add", "solo", "--at", "count", "--write"]) == 0
    assert b.read_text(encoding="utf-8") == "safe, 1girl, solo, kanachan, twintails"
    assert (
        main(["edit", str(tmp_path), "--regex", "--replace", "(.*) footwear=\\1 shoes", "--write"])
        == 0
    )
    assert "red shoes" in a.read_text(encoding="utf-8")
    assert main(["edit", str(tmp_path), "--at", "nowhere", "--add", "x"]) == 2
    assert main(["edit", str(tmp_path)]) == 2


def test_edit_keeps_bom_and_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbf1girl, brown hair,\r\nsmile\r\n")
    assert main(["edit", str(path), "--remove", "brown hair", "--write"]) == 0
    assert path.read_bytes() == b"\xef\xbb\xbf1girl, smile\r\n"


def test_undo_list_and_nothing_to_undo(kanachan: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["undo", str(kanachan)]) == 0
    assert "nothing to undo" in capsys.readouterr().err
    main(["edit", str(kanachan), "--remove", "ahoge", "--write"])
    assert main(["undo", str(kanachan), "--list"]) == 0
    assert "--remove ahoge" in capsys.readouterr().out
    (kanachan / "kanachan_angry.txt").write_text("hand edit", encoding="utf-8")
    assert main(["undo", str(kanachan)]) == 1
    err = capsys.readouterr().err
    assert "kanachan_angry.txt: changed since the run" in err
    assert (kanachan / "kanachan_angry.txt").read_text(encoding="utf-8") == "hand edit"


def test_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("convert", "edit", "undo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "examples:" in capsys.readouterr().out


# -- SIGKILL against the real CLI -------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_sigkill_during_edit_write_leaves_whole_files_and_undo_works(
    tmp_path: Path, seed: int
) -> None:
    files = {}
    for n in range(1500):
        path = tmp_path / f"{n:05d}.txt"
        data = f"1girl, brown hair, smile, caption {n}\n".encode()
        path.write_bytes(data)
        files[path] = data
    new = {p: d.replace(b"brown hair, ", b"") for p, d in files.items()}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "anima_caption",
            "edit",
            str(tmp_path),
            "--remove",
            "brown hair",
            "--write",
            "-q",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = tmp_path / ".anima-caption" / "journal"
    deadline = time.monotonic() + 30
    while not journal.exists() and time.monotonic() < deadline:  # wait for the run to start
        time.sleep(0.002)
    time.sleep(random.Random(seed).uniform(0.0, 0.3))
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = 0
    for path, old in files.items():
        now = path.read_bytes()
        assert now in (old, new[path]), f"{path.name}: {now!r}"
        written += now != old
    print(f"seed {seed}: killed after {written} of {len(files)} files")
    assert main(["undo", str(tmp_path)]) == 0 or written == 0
    for path, old in files.items():
        assert path.read_bytes() == old
