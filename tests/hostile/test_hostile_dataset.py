"""Issue 15, done when: one hostile dataset through every command that reads it.

The dataset carries each attack at once: a planted journal naming files outside it, a
JPEG claiming 65500×65500, a folder symlink pointing outside, an alias-bomb
``anima-caption.yaml`` and brackets nested 5,000 deep. ``check``, ``report``, ``review
export`` / ``apply`` and ``undo`` run on it as a user would (child processes with an
address-space cap). Nothing outside the dataset changes, each command finishes within
seconds, and every problem is one line, never a traceback.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

from anima_caption._review._sheet import COL_KEY, COL_PROPOSED, HEADERS
from tests.hostile.conftest import Run, run_cli
from tests.hostile.test_config_bombs import BILLION_LAUGHS
from tests.hostile.test_image_bombs import jpeg_claiming
from tests.hostile.test_planted_journal import _attack_records, _plant

MEMORY_MB = 1500  # the address-space cap of each command (the bombs alone want gigabytes)
SECONDS = 30  # per command, on a slow CI machine; they take about one on a laptop


def _world(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``world/`` holding the hostile ``ds/`` and files around it that must not change."""
    world = tmp_path / "world"
    outside = world / "outside"
    outside.mkdir(parents=True)
    (outside / "secret.txt").write_text("mine, keep\n", encoding="utf-8")
    victim = world / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    far = world / "far" / "other.txt"
    far.parent.mkdir()
    far.write_text("also precious\n", encoding="utf-8")
    root = world / "ds"
    root.mkdir()
    (root / "a.txt").write_text("masterpiece, safe, 1girl,  solo, long_hair\n", encoding="utf-8")
    (root / "deep.txt").write_text("1girl, " + "(" * 5000 + "smile" + ")" * 5000 + "\n")
    (root / "bomb.jpg").write_bytes(jpeg_claiming(65500, 65500, progressive=True))
    (root / "bomb.txt").write_text("safe, 1girl, smile\n", encoding="utf-8")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    records, evil = _attack_records(victim, far)
    _plant(root, records, evil)
    (root / "anima-caption.yaml").write_text(BILLION_LAUGHS, encoding="utf-8")
    return world, root, outside


def _outside(world: Path) -> dict[str, bytes]:
    return {
        p.relative_to(world).as_posix(): p.read_bytes()
        for p in sorted(world.rglob("*"))
        if p.is_file() and not p.is_symlink() and "ds" not in p.relative_to(world).parts[:1]
    }


def _run(*args: str | Path) -> Run:
    started = time.monotonic()
    run = run_cli(*args, timeout=SECONDS * 2, memory_mb=MEMORY_MB)
    elapsed = time.monotonic() - started
    run.no_traceback()
    assert elapsed < SECONDS, f"{args[0]} took {elapsed:.1f} s"
    assert run.peak_kb < 800_000, f"{args[0]} peaked at {run.peak_kb} KB"
    return run


def _problem_lines(run: Run) -> list[str]:
    return [line for line in run.err.splitlines() if line.strip()]


def test_a_hostile_dataset_changes_nothing_outside_and_each_problem_is_one_line(
    tmp_path: Path,
) -> None:
    world, root, _ = _world(tmp_path)
    before = _outside(world)
    sheet = tmp_path / "review.csv"

    # 1. As shipped, the config found in the dataset is a bomb: every command refuses it
    #    with one line naming the file (exit 2), before reading anything else.
    for args in (
        ["check", root, "--no-progress"],
        ["report", root, "--out", tmp_path / "r.html", "--no-progress"],
        ["review", "export", root, "--out", sheet, "--no-progress"],
    ):
        run = _run(*args)
        lines = _problem_lines(run)
        assert run.code == 2, (args, run.err)
        assert len(lines) == 1 and "anima-caption.yaml" in lines[0] and "aliases" in lines[0]
    assert not sheet.exists()

    # 2. The user takes the config away; the other attacks remain.
    (root / "anima-caption.yaml").unlink()
    check = _run("check", root, "--fix", "--no-progress", "--select", "SY,WS,TG001")
    assert check.code == 1, check.err
    assert "deep.txt:1:" in check.out and "nested" in check.out
    assert "linked" not in check.out  # a symlinked folder is not walked

    report = _run("report", root, "--out", tmp_path / "r.html", "--no-progress")
    assert report.code == 0, report.err
    bomb_lines = [line for line in _problem_lines(report) if "bomb.jpg" in line]
    assert len(bomb_lines) == 1 and "65500×65500" in bomb_lines[0]

    export = _run("review", "export", root, "--out", sheet, "--no-progress")
    assert export.code == 0, export.err
    rows = list(csv.reader(io.StringIO(sheet.read_text(encoding="utf-8-sig"))))
    assert tuple(rows[0]) == HEADERS
    key = HEADERS.index(COL_KEY)
    assert {r[key] for r in rows[1:]} == {"a.txt", "bomb.txt", "deep.txt"}  # not via the link
    proposed = HEADERS.index(COL_PROPOSED)
    for row in rows[1:]:
        if row[key] == "a.txt":
            row[proposed] = "masterpiece, safe, 1girl, solo, long hair, smile"

    # The sheet comes back edited by a hostile hand: a row reaching through the link.
    edited = io.StringIO(newline="")
    writer = csv.writer(edited, lineterminator="\r\n")
    writer.writerows(rows)
    writer.writerow(["", "linked/secret.txt", "", "pwned", "", "", "linked/secret.txt", ""])
    sheet.write_text("\ufeff" + edited.getvalue(), encoding="utf-8")
    apply = _run("review", "apply", sheet, root, "--write", "--no-progress")
    assert apply.code == 1, apply.err
    through = [line for line in _problem_lines(apply) if "linked/secret.txt" in line]
    assert len(through) == 1 and "outside the dataset" in through[0], apply.err
    assert "smile" in (root / "a.txt").read_text()  # the good rows were written

    # 3. undo goes back through the user's own runs (apply, then check --fix) and never
    #    follows the planted one.
    fixed = "masterpiece, safe, 1girl, solo, long hair\n"
    for expected in (fixed, "masterpiece, safe, 1girl,  solo, long_hair\n"):
        undo = _run("undo", root)
        assert undo.code == 0, undo.err
        ignored = [line for line in _problem_lines(undo) if "20990101T" in line]
        assert len(ignored) == 1 and "ignored" in ignored[0], undo.err
        assert (root / "a.txt").read_text() == expected
    last = _run("undo", root)
    assert last.code == 0 and "nothing to undo" in last.err

    assert _outside(world) == before
