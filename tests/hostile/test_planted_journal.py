"""Issue 15 item 1: ``undo`` must not trust a journal it finds in a dataset.

Before: a dataset shipped ``.anima-caption/journal/20990101T…/`` whose manifest named
``../victim.txt`` and an absolute path; ``undo`` overwrote a file outside the dataset and
deleted another, and, because the planted run sorted newest, the user's own run was not
undone. Now every manifest line is signed with a per-user key (HMAC chain) and every path
is checked, so a planted, copied or edited run is listed as untrusted and ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from anima_caption._journal import (
    MANIFEST,
    ORIGINALS,
    JournalError,
    WriteRun,
    _chain_seed,
    _mac,
    journal_dir,
    journal_key,
    list_runs,
    undo,
)
from anima_caption.cli import main

PLANTED = "20990101T000000.000000-1"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A dataset, a victim file beside it and one far away (absolute path)."""
    root = tmp_path / "dataset"
    root.mkdir()
    (root / "a.txt").write_text("1girl, long_hair, safe\n", encoding="utf-8")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    far = tmp_path / "far" / "other.txt"
    far.parent.mkdir()
    far.write_text("also precious\n", encoding="utf-8")
    return root, victim, far


def _plant(
    root: Path,
    records: list[dict[str, object]],
    originals: bytes,
    *,
    name: str = PLANTED,
    key: bytes | None = None,
) -> Path:
    """A run folder as an attacker would ship it (signed with ``key`` when given)."""
    folder = journal_dir(root) / name
    folder.mkdir(parents=True)
    (folder / ORIGINALS).write_bytes(originals)
    previous = _chain_seed(name)
    lines = []
    header: dict[str, object] = {
        "type": "run", "version": 2, "id": name, "command": "check --fix", "started": 4.1e9,
    }
    for record in [header, *records, {"type": "end", "status": "ok", "files": len(records)}]:
        if key is not None:
            mac = _mac(key, previous, record)
            previous = mac
            record = {**record, "mac": mac}
        lines.append(json.dumps(record))
    (folder / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _attack_records(victim: Path, far: Path) -> tuple[list[dict[str, object]], bytes]:
    evil = b"pwned\n"
    records: list[dict[str, object]] = [
        {"type": "file", "path": "../victim.txt", "old": _sha(evil),
         "new": _sha(victim.read_bytes()), "offset": 0, "length": len(evil)},
        {"type": "file", "path": str(far), "old": None,
         "new": _sha(far.read_bytes()), "offset": 0, "length": 0},
    ]
    return records, evil


@pytest.mark.parametrize("signed", ["unsigned", "forged-key"])
def test_a_planted_run_is_ignored_and_the_users_own_run_is_undone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signed: str
) -> None:
    root, victim, far = _setup(tmp_path)
    before = (root / "a.txt").read_bytes()
    assert main(["check", str(root), "--fix", "--exit-zero"]) == 0
    assert (root / "a.txt").read_bytes() != before
    records, evil = _attack_records(victim, far)
    _plant(root, records, evil, key=os.urandom(32) if signed == "forged-key" else None)

    assert main(["undo", str(root)]) == 0
    err = capsys.readouterr().err
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert far.read_text(encoding="utf-8") == "also precious\n"
    assert (root / "a.txt").read_bytes() == before  # the user's run was the one undone
    assert PLANTED in err and "not signed with this user's journal key" in err
    assert "Traceback" not in err


def test_naming_the_planted_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, victim, far = _setup(tmp_path)
    records, evil = _attack_records(victim, far)
    _plant(root, records, evil)
    assert main(["undo", str(root), "--run", PLANTED]) == 1
    assert "not undone" in capsys.readouterr().err
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert far.exists()


def test_undo_list_shows_planted_runs_as_untrusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, victim, far = _setup(tmp_path)
    records, evil = _attack_records(victim, far)
    _plant(root, records, evil)
    assert main(["undo", str(root), "--list"]) == 0
    out = capsys.readouterr().out
    assert f"{PLANTED}  untrusted, ignored by undo" in out


def test_a_real_run_edited_afterwards_is_no_longer_trusted(tmp_path: Path) -> None:
    root, victim, _far = _setup(tmp_path)
    old = (root / "a.txt").read_bytes()
    with WriteRun(root, "edit") as run:
        run.write(root / "a.txt", b"new\n", original=old)
    (manifest,) = journal_dir(root).glob(f"*/{MANIFEST}")
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace('"a.txt"', '"../victim.txt"'),
        encoding="utf-8",
    )
    victim.write_bytes(b"new\n")  # the attacker prepares the victim to match the hash
    result = undo(root)
    assert result.run is None
    assert [r.problem for r in result.ignored] == ["the manifest was altered"]
    assert victim.read_bytes() == b"new\n"


def test_a_run_copied_from_another_machine_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _victim, _far = _setup(tmp_path)
    old = (root / "a.txt").read_bytes()
    with WriteRun(root, "edit") as run:
        run.write(root / "a.txt", b"new\n", original=old)
    monkeypatch.setenv("ANIMA_CAPTION_DATA_DIR", str(tmp_path / "other-machine"))
    result = undo(root)
    assert result.run is None and len(result.ignored) == 1
    assert (root / "a.txt").read_bytes() == b"new\n"


def test_even_a_validly_signed_manifest_cannot_name_a_path_outside(tmp_path: Path) -> None:
    """Defence in depth: the paths of a signed run are still checked before use."""
    root, victim, far = _setup(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_bytes(b"new\n")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(b"new\n")
    records, evil = _attack_records(victim, far)
    for path in ("linked/x.txt", ".git/config", "./a.txt", "a/../../victim.txt"):
        records.append({"type": "file", "path": path, "old": _sha(evil), "new": _sha(b"new\n"),
                        "offset": 0, "length": len(evil)})
    key = journal_key(create=True)
    _plant(root, records, evil, key=key)
    result = undo(root)
    assert result.run is not None and result.run.id == PLANTED
    assert not result.restored
    assert len(result.refused) == len(records)
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert far.exists()
    assert (outside / "x.txt").read_bytes() == b"new\n"
    assert (root / ".git" / "config").read_bytes() == b"new\n"


def test_a_symlinked_journal_folder_is_refused_and_nothing_is_written_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _victim, _far = _setup(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / ".anima-caption").symlink_to(elsewhere, target_is_directory=True)
    before = (root / "a.txt").read_bytes()
    assert main(["check", str(root), "--fix"]) == 1
    err = capsys.readouterr().err
    assert "is a symbolic link" in err and "Traceback" not in err
    assert list(elsewhere.iterdir()) == []
    assert (root / "a.txt").read_bytes() == before  # no journal, no write
    with pytest.raises(JournalError, match="symbolic link"):
        undo(root)


def test_a_manifest_pointing_at_an_endless_file_is_harmless(tmp_path: Path) -> None:
    root, _victim, _far = _setup(tmp_path)
    folder = journal_dir(root) / PLANTED
    folder.mkdir(parents=True)
    (folder / MANIFEST).symlink_to("/dev/zero")
    (folder / ORIGINALS).symlink_to("/dev/zero")
    started = time.monotonic()
    result = undo(root)
    assert result.run is None
    assert time.monotonic() - started < 5
    assert list_runs(root) == []
