"""The backup journal: write runs, change detection, undo, and survival of SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from anima_caption._errors import AnimaCaptionError
from anima_caption._journal import (
    FileChangedError,
    WriteRun,
    journal_dir,
    list_runs,
    undo,
)


def _dataset(root: Path, count: int = 5) -> dict[Path, bytes]:
    files = {}
    for n in range(count):
        path = root / f"img_{n:03d}.txt"
        data = f"1girl, brown hair, caption {n}\n".encode()
        path.write_bytes(data)
        files[path] = data
    return files


def test_write_then_undo_restores_every_byte(tmp_path: Path) -> None:
    files = _dataset(tmp_path)
    (tmp_path / "sub").mkdir()
    nested = tmp_path / "sub" / "a.txt"
    nested.write_bytes(b"\xef\xbb\xbfsafe, brown hair, 1girl\r\n")
    files[nested] = nested.read_bytes()
    with WriteRun(tmp_path, "test edit") as run:
        for path, old in files.items():
            run.write(path, old.replace(b"brown hair, ", b""), original=old)
    assert run.files_written == list(files)
    assert (tmp_path / "img_000.txt").read_bytes() == b"1girl, caption 0\n"
    result = undo(tmp_path)
    assert result.complete and len(result.restored) == len(files)
    for path, old in files.items():
        assert path.read_bytes() == old
    # the run is marked undone: a second undo has nothing left to do
    again = undo(tmp_path)
    assert again.run is None


def test_undo_goes_back_one_run_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"v1")
    for old, new in ((b"v1", b"v2"), (b"v2", b"v3")):
        with WriteRun(tmp_path, f"to {new!r}") as run:
            run.write(path, new, original=old)
    assert [r.command for r in list_runs(tmp_path)] == ["to b'v2'", "to b'v3'"]
    assert undo(tmp_path).complete
    assert path.read_bytes() == b"v2"
    assert undo(tmp_path).complete
    assert path.read_bytes() == b"v1"


def test_file_changed_between_read_and_write_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"what was read")
    read = path.read_bytes()
    path.write_bytes(b"someone else's edit")
    with WriteRun(tmp_path, "edit") as run, pytest.raises(FileChangedError) as caught:
        run.write(path, b"new", original=read)
    assert isinstance(caught.value, AnimaCaptionError)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == b"someone else's edit"
    # nothing was written, so no run is kept
    assert list_runs(tmp_path) == []


def test_write_many_skips_changed_files_and_writes_the_rest(tmp_path: Path) -> None:
    files = _dataset(tmp_path, 4)
    paths = list(files)
    paths[1].write_bytes(b"changed")
    with WriteRun(tmp_path, "edit") as run:
        refused = run.write_many([(p, b"new", files[p]) for p in paths])
    assert [e.path for e in refused] == [paths[1]]
    assert paths[1].read_bytes() == b"changed"
    assert all(paths[i].read_bytes() == b"new" for i in (0, 2, 3))


def test_undo_refuses_files_changed_since_the_run(tmp_path: Path) -> None:
    files = _dataset(tmp_path, 3)
    paths = list(files)
    with WriteRun(tmp_path, "edit") as run:
        for p in paths:
            run.write(p, b"new " + p.name.encode(), original=files[p])
    paths[0].write_bytes(b"hand edit after the run")
    preview = undo(tmp_path, dry_run=True)
    assert preview.dry_run and [p for p, _ in preview.refused] == [paths[0]]
    assert paths[1].read_bytes() == b"new img_001.txt"  # dry run wrote nothing
    result = undo(tmp_path)
    assert [p for p, _ in result.refused] == [paths[0]]
    assert "changed since the run" in result.refused[0][1]
    assert paths[0].read_bytes() == b"hand edit after the run"
    assert paths[1].read_bytes() == files[paths[1]]
    assert not result.complete
    # the run stays active (not complete); once the hand edit is reverted undo finishes it
    paths[0].write_bytes(b"new img_000.txt")
    assert undo(tmp_path).complete
    assert paths[0].read_bytes() == files[paths[0]]


def test_created_files_are_deleted_by_undo(tmp_path: Path) -> None:
    path = tmp_path / "out" / "a.txt"
    path.parent.mkdir()
    with WriteRun(tmp_path, "convert --out") as run:
        run.write(path, b"safe, 1girl", original=None)
    assert path.exists()
    assert undo(tmp_path).restored == [path]
    assert not path.exists()


def test_damaged_backup_is_refused_not_restored(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"original")
    with WriteRun(tmp_path, "edit") as run:
        run.write(path, b"new", original=b"original")
    originals = run_folder(tmp_path) / "originals.bin"
    originals.write_bytes(b"garbage!")
    result = undo(tmp_path)
    assert result.refused and "damaged" in result.refused[0][1]
    assert path.read_bytes() == b"new"


def test_a_second_concurrent_run_is_refused(tmp_path: Path) -> None:
    _dataset(tmp_path, 1)
    with WriteRun(tmp_path, "first"), pytest.raises(AnimaCaptionError, match="another"):
        WriteRun(tmp_path, "second").open()


def test_path_outside_the_dataset_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "x.txt"
    outside.write_bytes(b"x")
    with WriteRun(root, "edit") as run, pytest.raises(AnimaCaptionError, match="outside"):
        run.write(outside, b"y", original=b"x")
    assert outside.read_bytes() == b"x"


def test_permissions_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"old")
    path.chmod(0o640)
    with WriteRun(tmp_path, "edit") as run:
        run.write(path, b"new", original=b"old")
    assert path.stat().st_mode & 0o777 == 0o640
    undo(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o640


def run_folder(root: Path) -> Path:
    (folder,) = [p for p in journal_dir(root).iterdir() if p.is_dir()]
    return folder


# -- SIGKILL -------------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from anima_caption._journal import WriteRun
    root = Path(sys.argv[1])
    files = sorted(root.glob("*.txt"))
    print("ready", flush=True)
    with WriteRun(root, "kill test") as run:
        for path in files:
            old = path.read_bytes()
            run.write(path, old.upper() * 3, original=old)
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("seed", range(6))
def test_sigkill_at_a_random_point_leaves_whole_files_and_a_usable_journal(
    tmp_path: Path, seed: int
) -> None:
    """A real run in a subprocess, killed with SIGKILL: every file is wholly old or wholly
    new, and undo brings back every original."""
    files = {}
    for n in range(300):
        path = tmp_path / f"{n:04d}.txt"
        data = f"1girl, brown hair, number {n}, {'x' * (n % 50)}".encode()
        path.write_bytes(data)
        files[path] = data
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    time.sleep(random.Random(seed).uniform(0.0, 0.25))
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    new_count = 0
    for path, old in files.items():
        now = path.read_bytes()
        assert now in (old, old.upper() * 3), f"{path.name} is neither old nor new: {now!r}"
        new_count += now != old
    print(f"seed {seed}: killed after {new_count} of {len(files)} files")
    # A write cut short may leave a temporary file, but only a hidden one, which no
    # dataset walk reads as a caption.
    visible = {p for p in tmp_path.iterdir() if not p.name.startswith(".")}
    assert visible == set(files)
    result = undo(tmp_path)
    assert not result.refused
    for path, old in files.items():
        assert path.read_bytes() == old
    assert len(result.restored) == new_count


def test_a_second_run_on_the_same_dataset_is_refused_until_the_first_ends(
    tmp_path: Path,
) -> None:
    """The journal lock (filelock): a run, or undo, while another writes is refused with
    one line, and takes the lock once the first has ended."""
    files = _dataset(tmp_path, 2)
    first, second = list(files)
    with WriteRun(tmp_path, "first") as run:
        run.write(first, b"smile\n", original=files[first])
        with (
            pytest.raises(AnimaCaptionError, match="another anima-caption run or undo"),
            WriteRun(tmp_path, "second") as other,
        ):
            other.write(second, b"smile\n", original=files[second])
        with pytest.raises(AnimaCaptionError, match="another anima-caption run or undo"):
            undo(tmp_path)
    assert second.read_bytes() == files[second]
    with WriteRun(tmp_path, "second") as other:
        other.write(second, b"smile\n", original=files[second])
    assert second.read_bytes() == b"smile\n"


def test_the_lock_is_taken_across_processes(tmp_path: Path) -> None:
    files = _dataset(tmp_path, 1)
    (path,) = files
    holder = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from anima_caption._journal import WriteRun
        with WriteRun(Path({str(tmp_path)!r}), "holder"):
            print("held", flush=True)
            sys.stdin.readline()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "held"
        with (
            pytest.raises(AnimaCaptionError, match="another anima-caption run or undo"),
            WriteRun(tmp_path, "second") as run,
        ):
            run.write(path, b"smile\n", original=files[path])
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
    with WriteRun(tmp_path, "second") as run:
        run.write(path, b"smile\n", original=files[path])
    assert path.read_bytes() == b"smile\n"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_planted_lock_link_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    dataset = tmp_path / "data"
    dataset.mkdir()
    files = _dataset(dataset, 1)
    (path,) = files
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me\n")
    journal = journal_dir(dataset)
    journal.mkdir(parents=True)
    (journal / "lock").symlink_to(outside)
    with (
        pytest.raises(AnimaCaptionError, match="cannot lock the backup journal"),
        WriteRun(dataset, "planted") as run,
    ):
        run.write(path, b"smile\n", original=files[path])
    assert outside.read_bytes() == b"keep me\n" and path.read_bytes() == files[path]
