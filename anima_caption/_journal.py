"""The backup journal every caption-writing command keeps, and ``undo``.

A *run* is one command that writes captions (``convert --write``, ``edit --write``,
``check --fix`` …). Before a file is replaced, its original bytes are appended to the run's
``originals.bin`` and a line naming the file, the offset of its backup and the SHA-256 of
the old and the new bytes is appended to ``manifest.jsonl``; both are flushed to disk
(``fsync``) before the file itself is atomically replaced (temp file + ``fsync`` + rename).
So, whenever the process dies — even by SIGKILL — every file the run touched is named in
the manifest with its backup, or was never touched:

* a manifest line cut short by the kill belongs to a file that was not yet replaced, and
  is ignored;
* a file whose bytes still hash to ``old`` was not replaced (or was already restored);
* a file whose bytes hash to ``new`` is restored from the backup;
* anything else was changed by someone after the run, and ``undo`` refuses to touch it.

Layout, under the dataset folder ``ROOT``::

    ROOT/.anima-caption/journal/
        lock                              held while a run or an undo is active
        20250101T120000.123456-4242/      one folder per run, names sort by start time
            manifest.jsonl                header line, one line per file, end line
            originals.bin                 the original bytes, back to back
            undone.json                   written once undo restored the whole run

Example::

    with WriteRun(root, "edit --remove 'brown hair'") as run:
        for path, old, new in changes:
            run.write(path, new, original=old)
    undo(root)          # puts every file back
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

from anima_caption._errors import AnimaCaptionError
from anima_caption._io import write_atomic, write_atomic_many

JOURNAL_DIR = Path(".anima-caption") / "journal"
MANIFEST = "manifest.jsonl"
ORIGINALS = "originals.bin"
UNDONE = "undone.json"
FORMAT_VERSION = 1

#: How many files :meth:`WriteRun.write_many` backs up with one ``fsync`` before replacing
#: them (fewer disk flushes; the guarantees are the same).
BATCH = 256


class FileChangedError(AnimaCaptionError):
    """A file changed on disk between the moment it was read and the moment it was to be
    written; it is left as it is."""

    def __init__(self, path: Path, message: str = "changed on disk since it was read") -> None:
        self.path = path
        super().__init__(f"{path}: {message}; not overwritten")


class JournalError(AnimaCaptionError):
    """The journal cannot be used (missing, damaged, locked by another run)."""


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def journal_dir(root: Path) -> Path:
    """Where the journal of the dataset folder ``root`` lives."""
    return Path(root) / JOURNAL_DIR


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def journal_root(paths: Iterable[Path]) -> Path:
    """The folder whose ``.anima-caption/`` journal records writes under ``paths`` (the
    folders and files given on the command line): the folder given, or the deepest folder
    holding them all. ``anima-caption undo FOLDER`` finds it there."""
    folders = {str(p.resolve() if p.is_dir() else p.resolve().parent) for p in paths}
    if not folders:
        return Path.cwd()
    return Path(os.path.commonpath(sorted(folders)))


class _Lock:
    """An exclusive, non-blocking lock on the journal folder (POSIX ``flock``)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "lock"
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("ab")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: no locking
            self._handle = handle
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise JournalError(
                f"{self.path.parent}: another anima-caption run or undo is writing this "
                "dataset; wait for it to finish"
            ) from None
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None


def _new_run_id() -> str:
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}.{int(now % 1 * 1_000_000):06d}-{os.getpid()}"


class WriteRun:
    """One journaled write run over the dataset folder ``root`` (a context manager).

    ``command`` is recorded for ``undo --list``. Files are written with :meth:`write`;
    leaving the ``with`` block closes the run (a run that wrote nothing leaves no trace).
    """

    def __init__(self, root: Path, command: str) -> None:
        self.root = Path(root).resolve()
        self.command = command
        self.run_id = ""
        self.folder: Path | None = None
        self.files_written: list[Path] = []
        """Every file this run replaced, in order."""
        self._lock = _Lock(journal_dir(self.root))
        self._manifest: IO[bytes] | None = None
        self._originals: IO[bytes] | None = None
        self._offset = 0

    # -- context manager -----------------------------------------------------------------

    def __enter__(self) -> WriteRun:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close(status="ok" if kind is None else "aborted")

    def open(self) -> None:
        """Start the run: lock the journal and create the run folder."""
        if not self.root.is_dir():
            raise JournalError(f"{self.root}: not a folder; the journal needs the dataset folder")
        self._lock.acquire()
        try:
            base = journal_dir(self.root)
            while True:
                self.run_id = _new_run_id()
                folder = base / self.run_id
                try:
                    folder.mkdir(parents=True)
                    break
                except FileExistsError:
                    time.sleep(0.001)
            self.folder = folder
            self._originals = (folder / ORIGINALS).open("ab")
            self._manifest = (folder / MANIFEST).open("ab")
            self._append(
                {
                    "type": "run",
                    "version": FORMAT_VERSION,
                    "id": self.run_id,
                    "command": self.command,
                    "started": time.time(),
                }
            )
            self._sync()
            _fsync_dir(base)
        except BaseException:
            self._lock.release()
            raise

    def close(self, status: str = "ok") -> None:
        """End the run; remove its folder when it wrote nothing."""
        if self.folder is None:
            return
        try:
            if self._manifest is not None and self.files_written:
                self._append(
                    {
                        "type": "end",
                        "status": status,
                        "files": len(self.files_written),
                        "ended": time.time(),
                    }
                )
                self._sync()
            for handle in (self._manifest, self._originals):
                if handle is not None:
                    handle.close()
            self._manifest = self._originals = None
            if not self.files_written:
                shutil.rmtree(self.folder, ignore_errors=True)
        finally:
            self.folder = None
            self._lock.release()

    # -- writing -------------------------------------------------------------------------

    def write(self, path: Path, new_bytes: bytes, *, original: bytes | None) -> None:
        """Replace ``path`` with ``new_bytes`` after backing up ``original``.

        ``original`` is what the caller read (``None``: the file must not exist yet; it is
        created and ``undo`` deletes it). Raises :class:`FileChangedError`, leaving the file
        alone, when the file on disk is no longer ``original``.
        """
        self.write_many([(path, new_bytes, original)], raise_changed=True)

    def write_many(
        self,
        items: Iterable[tuple[Path, bytes, bytes | None]],
        *,
        raise_changed: bool = False,
    ) -> list[FileChangedError]:
        """:meth:`write` for many files: each batch of backups is flushed to disk once, then
        its files are replaced. Files that changed on disk are skipped and returned (or,
        with ``raise_changed``, the first one is raised)."""
        if self.folder is None or self._manifest is None or self._originals is None:
            raise JournalError("the write run is not open")
        refused: list[FileChangedError] = []
        batch: list[tuple[Path, bytes, bytes | None]] = []
        for item in items:
            batch.append(item)
            if len(batch) >= BATCH:
                refused += self._write_batch(batch, raise_changed)
                batch = []
        if batch:
            refused += self._write_batch(batch, raise_changed)
        return refused

    def _write_batch(
        self, batch: list[tuple[Path, bytes, bytes | None]], raise_changed: bool
    ) -> list[FileChangedError]:
        assert self._manifest is not None and self._originals is not None
        refused: list[FileChangedError] = []
        ready: list[tuple[Path, bytes, bytes | None]] = []
        for path, new_bytes, original in batch:
            target = Path(path)
            current = _read_bytes(target)
            if current != original:
                error = FileChangedError(
                    target,
                    "was deleted since it was read"
                    if current is None
                    else "changed on disk since it was read",
                )
                if raise_changed:
                    raise error
                refused.append(error)
                continue
            ready.append((target, new_bytes, original))
        if not ready:
            return refused
        # 1. back up every original, then 2. record them, then 3. flush both to disk.
        records = []
        for target, new_bytes, original in ready:
            offset = self._offset
            if original is not None:
                self._originals.write(original)
                self._offset += len(original)
            records.append(
                {
                    "type": "file",
                    "path": self._relative(target),
                    "old": None if original is None else sha256(original),
                    "new": sha256(new_bytes),
                    "offset": offset,
                    "length": 0 if original is None else len(original),
                }
            )
        self._originals.flush()
        os.fsync(self._originals.fileno())
        for record in records:
            self._append(record)
        self._sync()
        # 4. only now replace the files, each atomically.
        replace: list[tuple[Path, bytes]] = []
        for target, new_bytes, original in ready:
            current = _read_bytes(target)
            if current != original:  # changed while the backups were written
                error = FileChangedError(target)
                if raise_changed:
                    raise error
                refused.append(error)
                continue
            replace.append((target, new_bytes))
        if len(replace) == 1:
            write_atomic(*replace[0])
        elif replace:
            write_atomic_many(replace)
        self.files_written.extend(target for target, _ in replace)
        return refused

    def _relative(self, path: Path) -> str:
        absolute = Path(path).absolute()
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            resolved = absolute.resolve()
            try:
                return resolved.relative_to(self.root).as_posix()
            except ValueError:
                raise JournalError(
                    f"{path}: outside the dataset folder {self.root}; cannot journal it"
                ) from None

    def _append(self, record: dict[str, Any]) -> None:
        assert self._manifest is not None
        self._manifest.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")

    def _sync(self) -> None:
        assert self._manifest is not None
        self._manifest.flush()
        os.fsync(self._manifest.fileno())


# -- reading the journal -------------------------------------------------------------------


@dataclass(frozen=True)
class FileRecord:
    """One file a run replaced."""

    path: str
    old: str | None
    new: str
    offset: int
    length: int


@dataclass(frozen=True)
class RunInfo:
    """One run found in a journal."""

    id: str
    folder: Path
    command: str
    started: float
    status: str
    """``ok``, ``aborted`` (an error ended it) or ``interrupted`` (the process died)."""
    files: tuple[FileRecord, ...]
    undone: bool

    @property
    def size(self) -> int:
        """Bytes the run's journal takes on disk."""
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())


def _read_run(folder: Path) -> RunInfo | None:
    try:
        raw = (folder / MANIFEST).read_bytes()
    except OSError:
        return None
    header: dict[str, Any] | None = None
    status = "interrupted"
    by_path: dict[str, FileRecord] = {}
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill: its file was never replaced
        kind = record.get("type")
        if kind == "run":
            header = record
        elif kind == "end":
            status = str(record.get("status", "ok"))
        elif kind == "file":
            path = str(record["path"])
            first = by_path.get(path)
            # A file written twice in one run: undo goes back to the first original.
            by_path[path] = FileRecord(
                path=path,
                old=first.old if first else record["old"],
                new=str(record["new"]),
                offset=first.offset if first else int(record["offset"]),
                length=first.length if first else int(record["length"]),
            )
    if header is None:
        return None
    return RunInfo(
        id=str(header.get("id", folder.name)),
        folder=folder,
        command=str(header.get("command", "")),
        started=float(header.get("started", 0.0)),
        status=status,
        files=tuple(by_path.values()),
        undone=(folder / UNDONE).exists(),
    )


def list_runs(root: Path) -> list[RunInfo]:
    """Every run recorded under ``root``, oldest first (runs that wrote nothing are not
    kept)."""
    base = journal_dir(Path(root))
    if not base.is_dir():
        return []
    runs = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        run = _read_run(folder)
        if run is not None and run.files:
            runs.append(run)
    return runs


# -- undo ----------------------------------------------------------------------------------


@dataclass
class UndoResult:
    """What :func:`undo` did (or, with ``dry_run``, would do)."""

    run: RunInfo | None
    """The run undone; ``None`` when there was nothing to undo."""
    dry_run: bool = False
    restored: list[Path] = field(default_factory=list)
    """Files put back to their original bytes (or deleted, when the run created them)."""
    unchanged: list[Path] = field(default_factory=list)
    """Files already holding their original bytes (the run was killed before replacing
    them, or an earlier undo restored them)."""
    refused: list[tuple[Path, str]] = field(default_factory=list)
    """Files not touched, with the reason (changed since the run, damaged backup)."""

    @property
    def complete(self) -> bool:
        """Every file of the run holds its original bytes now (or would, for a dry run)."""
        return self.run is not None and not self.refused


def undo(root: Path, *, dry_run: bool = False, run_id: str | None = None) -> UndoResult:
    """Restore the files of the last run under ``root`` that is not yet undone (or of the
    run ``run_id``).

    Files changed since that run are refused and reported, never overwritten; each
    restore is atomic. When every file is back, the run is marked undone, so the next
    ``undo`` goes one run further back.
    """
    root = Path(root).resolve()
    base = journal_dir(root)
    lock = _Lock(base)
    if not base.is_dir():
        return UndoResult(run=None, dry_run=dry_run)
    lock.acquire()
    try:
        runs = list_runs(root)
        if run_id is not None:
            chosen = [r for r in runs if r.id == run_id or r.id.startswith(run_id)]
            if len(chosen) != 1:
                raise JournalError(
                    f"{root}: no run {run_id!r} in the journal"
                    if not chosen
                    else f"{root}: {run_id!r} names several runs; give more of the id"
                )
            run: RunInfo | None = chosen[0]
        else:
            pending = [r for r in runs if not r.undone]
            run = pending[-1] if pending else None
        result = UndoResult(run=run, dry_run=dry_run)
        if run is None:
            return result
        _undo_run(root, run, result)
        if not dry_run and result.complete:
            (run.folder / UNDONE).write_text(
                json.dumps({"undone": time.time(), "restored": len(result.restored)}) + "\n",
                encoding="utf-8",
            )
        return result
    finally:
        lock.release()


def _undo_run(root: Path, run: RunInfo, result: UndoResult) -> None:
    originals_path = run.folder / ORIGINALS
    try:
        originals = originals_path.open("rb")
    except OSError as error:
        raise JournalError(f"{originals_path}: cannot read the backups: {error}") from None
    with originals:
        for record in run.files:
            path = root / record.path
            current = _read_bytes(path)
            current_hash = None if current is None else sha256(current)
            if current_hash == record.old:
                result.unchanged.append(path)
                continue
            if current_hash != record.new:
                what = "was deleted" if current is None else "changed"
                result.refused.append((path, f"{what} since the run; left as it is"))
                continue
            backup: bytes | None = None
            if record.old is not None:
                originals.seek(record.offset)
                backup = originals.read(record.length)
                if sha256(backup) != record.old:
                    result.refused.append((path, "its backup in the journal is damaged"))
                    continue
            if not result.dry_run:
                if backup is None:
                    path.unlink()
                else:
                    write_atomic(path, backup)
            result.restored.append(path)


def iter_run_summaries(root: Path) -> Iterator[tuple[RunInfo, Literal["undone", "active"]]]:
    """``(run, state)`` for every run under ``root``, newest first (for ``undo --list``)."""
    for run in reversed(list_runs(root)):
        yield run, "undone" if run.undone else "active"
