"""Issue 15 item 9: writes keep what a file is, not only what it says.

Before: atomic writes split hard links (captions in a ``train --layout hardlink`` folder
went stale silently), replaced symlinked captions by regular files, rewrote read-only
captions without a word, changed the owner when run as root, and created new files 0600.
Decisions (docs/security.md): a hard-linked file is rewritten in place, so every link
sees the change; a symbolic link is never written through or replaced (refused, one
line); a read-only file is refused; mode, owner and group are kept; new files get the
umask's mode; ``undo`` restores the same way.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from anima_caption.cli import main

BEFORE = b"1girl, long_hair, safe\n"
AFTER = b"1girl, long hair, safe\n"


@pytest.fixture
def umask() -> Iterator[None]:
    saved = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(saved)


def _dataset(tmp_path: Path) -> Path:
    root = tmp_path / "dataset"
    root.mkdir()
    (root / "a.txt").write_bytes(BEFORE)
    return root


def test_hard_linked_captions_stay_linked_through_fix_and_undo(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    mirror = tmp_path / "train"
    mirror.mkdir()
    os.link(root / "a.txt", mirror / "a.txt")
    inode = (root / "a.txt").stat().st_ino
    assert main(["check", str(root), "--fix", "--exit-zero"]) == 0
    assert (root / "a.txt").read_bytes() == AFTER
    assert (mirror / "a.txt").read_bytes() == AFTER  # the training folder sees it
    assert (root / "a.txt").stat().st_ino == inode
    assert main(["undo", str(root)]) == 0
    assert (mirror / "a.txt").read_bytes() == BEFORE
    assert (root / "a.txt").stat().st_nlink == 2


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_symlinked_captions_are_refused_never_replaced_or_written_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    root = _dataset(tmp_path)
    target = (root / "real") if where == "inside" else (tmp_path / "elsewhere")
    target.mkdir()
    (target / "b.txt").write_bytes(BEFORE)
    (root / "link.txt").symlink_to(target / "b.txt")
    main(["check", str(root), "--fix"])
    err = capsys.readouterr().err
    assert "link.txt: is a symbolic link" in err and "Traceback" not in err
    assert (root / "link.txt").is_symlink()
    if where == "outside":
        assert (target / "b.txt").read_bytes() == BEFORE
    assert (root / "a.txt").read_bytes() == AFTER  # the rest of the run went on


def test_read_only_captions_are_refused_with_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _dataset(tmp_path)
    (root / "a.txt").chmod(0o444)
    main(["format", str(root), "--write"])
    main(["check", str(root), "--fix"])
    err = capsys.readouterr().err
    assert "a.txt: is read-only (mode 444)" in err
    assert (root / "a.txt").read_bytes() == BEFORE
    assert stat.S_IMODE((root / "a.txt").stat().st_mode) == 0o444


def test_permission_bits_are_kept(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    (root / "a.txt").chmod(0o640)
    assert main(["check", str(root), "--fix", "--exit-zero"]) == 0
    assert stat.S_IMODE((root / "a.txt").stat().st_mode) == 0o640


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_owner_and_group_are_kept_when_run_as_root(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    os.chown(root / "a.txt", 12345, 23456)
    assert main(["check", str(root), "--fix", "--exit-zero"]) == 0
    info = (root / "a.txt").stat()
    assert (info.st_uid, info.st_gid) == (12345, 23456)
    assert main(["undo", str(root)]) == 0
    info = (root / "a.txt").stat()
    assert (info.st_uid, info.st_gid) == (12345, 23456)


@pytest.mark.usefixtures("umask")
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_files_get_the_umask_mode(tmp_path: Path, mask: int, mode: int) -> None:
    root = _dataset(tmp_path)
    os.umask(mask)
    out = tmp_path / "out"
    assert main(["convert", str(root), "--from", "sdxl", "--out", str(out)]) == 0
    assert stat.S_IMODE((out / "a.txt").stat().st_mode) == mode
