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

**Trust.** The journal lives inside the dataset, and datasets come from strangers: a
planted journal must never make ``undo`` write anything. Every manifest line therefore
carries an HMAC-SHA256 chained over the previous line's (the first one over the run's
folder name), keyed by a random per-user secret kept outside any dataset
(:func:`journal_key`, ``0600`` in the user data folder). ``undo`` only acts on runs whose
every line verifies: a run written by another user, on another machine, by a version
without signatures, or edited or planted, is listed as untrusted and ignored. Every path
in a trusted manifest is still checked before use (relative, inside the dataset, no
``..``, no hidden or symlinked folder on the way, a regular file or absent), as is every
path a run writes. See ``docs/security.md``.

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
import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, Literal

from anima_caption._errors import AnimaCaptionError
from anima_caption._io import (
    PER_FILE_ERRORS,
    StagedWrite,
    commit_write,
    discard_write,
    fsync_folder,
    stage_write,
    write_atomic,
)

if TYPE_CHECKING:
    from filelock import BaseFileLock


JOURNAL_DIR = Path(".anima-caption") / "journal"
MANIFEST = "manifest.jsonl"
ORIGINALS = "originals.bin"
UNDONE = "undone.json"
#: 2: every manifest line is signed (``mac``); runs of version 1 are not trusted.
FORMAT_VERSION = 2
#: Where the per-user journal key lives (default: the user data folder).
DATA_ENV = "ANIMA_CAPTION_DATA_DIR"
KEY_FILE = "journal.key"
KEY_BYTES = 32

#: How many files :meth:`WriteRun.write_many` backs up with one ``fsync`` before replacing
#: them (fewer disk flushes; the guarantees are the same).
BATCH = 256
#: The longest manifest line read (a line names one file: far below this).
MAX_LINE = 1 << 16
_RUN_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}-\d+$")
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class FileChangedError(AnimaCaptionError):
    """A file changed on disk between the moment it was read and the moment it was to be
    written; it is left as it is."""

    def __init__(self, path: Path, message: str = "changed on disk since it was read") -> None:
        self.path = path
        super().__init__(f"{path}: {message}; not overwritten")


class WriteRefusedError(FileChangedError):
    """A file the tool will not write: a symbolic link, read-only, not a regular file,
    outside the dataset or in a hidden folder, or one it was not allowed to write. It is
    left as it is; the rest of the run goes on."""


class JournalError(AnimaCaptionError):
    """The journal cannot be used (missing, damaged, locked by another run)."""


class WriteFailedError(JournalError):
    """Writing stopped part way (a full disk, an I/O error). What was written is in the
    journal, so ``undo`` restores it."""


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def journal_dir(root: Path) -> Path:
    """Where the journal of the dataset folder ``root`` lives."""
    return Path(root) / JOURNAL_DIR


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


# -- the per-user key ------------------------------------------------------------------------


def data_dir() -> Path:
    """The user data folder (``ANIMA_CAPTION_DATA_DIR`` overrides it): the journal key."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_data_dir

    return Path(user_data_dir("anima-caption", appauthor=False))


def journal_key(*, create: bool) -> bytes | None:
    """This user's secret journal key (32 random bytes), created on first use when
    ``create``; None when there is none yet. The key never leaves the user data folder and
    is refused unless it is a regular file owned by this user and private to them."""
    path = data_dir() / KEY_FILE
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    except FileNotFoundError:
        if not create:
            return None
        return _create_key(path)
    except OSError as error:
        raise JournalError(f"{path}: cannot read the journal key ({error.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or (
            hasattr(os, "geteuid") and info.st_uid != os.geteuid()
        ):
            raise JournalError(
                f"{path}: the journal key is not a file of this user; refusing to use it"
            )
        if info.st_mode & 0o077:
            os.fchmod(handle.fileno(), 0o600)
        key = handle.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise JournalError(
            f"{path}: the journal key is damaged; delete it (earlier runs then cannot be undone)"
        )
    return key


def _create_key(path: Path) -> bytes:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        key = secrets.token_bytes(KEY_BYTES)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # atomic, and never replaces a key another process made
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as error:
        raise JournalError(
            f"{path}: cannot create the journal key ({error.strerror}); set {DATA_ENV} "
            "to a writable folder"
        ) from None
    existing = journal_key(create=False)
    assert existing is not None
    return existing


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _mac(key: bytes, previous: str, record: dict[str, Any]) -> str:
    return hmac.new(key, previous.encode() + b"\n" + _canonical(record), "sha256").hexdigest()


def _chain_seed(run_id: str) -> str:
    return f"anima-caption journal v{FORMAT_VERSION} {run_id}"


# -- safe places -------------------------------------------------------------------------------


def _journal_base(root: Path, *, create: bool) -> Path | None:
    """``ROOT/.anima-caption/journal`` as a real folder (created when ``create``), or None
    when absent. A symbolic link or a file in its place is refused: the journal must never
    lead writes out of the dataset."""
    folder = root
    for part in JOURNAL_DIR.parts:
        folder = folder / part
        try:
            info = folder.lstat()
        except FileNotFoundError:
            if not create:
                return None
            try:
                folder.mkdir()
            except FileExistsError:
                pass
            except OSError as error:
                raise JournalError(
                    f"{folder}: cannot create the backup journal ({error.strerror}); "
                    "nothing was written"
                ) from None
            info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a folder"
            raise JournalError(
                f"{folder}: is {what}; anima-caption keeps its backup journal only in a real "
                "folder inside the dataset (remove it)"
            )
    return folder


def dataset_relative(root: Path, path: Path) -> tuple[Path, str] | str:
    """``(real path, POSIX path relative to root)`` of a file to write under ``root``, or
    why it may not be written there.

    The file's folder is resolved (a symbolic link above the dataset is fine), and must lie
    inside ``root``; no part of the relative path may be hidden (``.git``,
    ``.anima-caption``)."""
    absolute = Path(os.path.abspath(path))  # noqa: PTH100 - no link resolution yet
    try:
        folder = absolute.parent.resolve(strict=True)
    except (OSError, RuntimeError):
        return "its folder does not exist"
    real = folder / absolute.name
    try:
        relative = real.relative_to(root)
    except ValueError:
        return f"is outside the dataset folder {root}"
    problem = check_relative(relative.as_posix())
    if problem is not None:
        return problem
    return real, relative.as_posix()


def check_relative(relative: object) -> str | None:
    """Why ``relative`` (from a manifest or a sheet) is not a dataset file path, or None."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        return "is not a file path"
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return "leaves the dataset folder"
    if any(part.startswith(".") for part in parts):
        return "is in a hidden folder or is a hidden file"
    return None


def _safe_target(root: Path, relative: object) -> Path | str:
    """The path of a manifest entry under ``root``, or why it is refused (see
    :func:`check_relative`; every folder on the way must be a real folder)."""
    problem = check_relative(relative)
    if problem is not None:
        return f"{relative!r} {problem}"
    assert isinstance(relative, str)
    parts = PurePosixPath(relative).parts
    current = root
    for part in parts[:-1]:
        current = current / part
        try:
            info = current.lstat()
        except OSError:
            return f"{relative}: its folder {current} no longer exists"
        if stat.S_ISLNK(info.st_mode):
            return f"{relative}: its folder {current} is a symbolic link"
        if not stat.S_ISDIR(info.st_mode):
            return f"{relative}: {current} is not a folder"
    return current / parts[-1]


def write_refusal(path: Path, *, exists: bool) -> str | None:
    """Why an existing caption file (or the place for a new one) must not be written, or
    None: symbolic links are never written through or replaced, read-only files are not
    rewritten, and only regular files are."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None if not exists else "was deleted since it was read"
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link; the tool never writes through or replaces links"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if not info.st_mode & stat.S_IWUSR:
        return f"is read-only (mode {info.st_mode & 0o777:o}); 'chmod u+w' it to allow writing"
    return None


def _open_nofollow(path: Path) -> IO[bytes]:
    fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return handle


class _Lock:
    """An exclusive, non-blocking lock on the journal folder (filelock: ``flock`` on POSIX,
    ``msvcrt.locking`` on Windows, where the hand-written ``flock`` did nothing). The lock
    file is opened without following a link (``O_NOFOLLOW``), so a planted ``lock`` link
    is refused, never written through."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = journal_dir(root) / "lock"
        self._lock: BaseFileLock | None = None

    def acquire(self) -> None:
        from filelock import FileLock, Timeout  # only runs that write

        base = _journal_base(self.root, create=True)
        assert base is not None
        lock = FileLock(base / "lock", timeout=0, mode=0o666)
        try:
            lock.acquire()
        except Timeout:
            raise JournalError(
                f"{base}: another anima-caption run or undo is writing this "
                "dataset; wait for it to finish"
            ) from None
        except OSError as error:
            raise JournalError(
                f"{base}: cannot lock the backup journal ({error.strerror}); nothing was written"
            ) from None
        self._lock = lock

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _new_run_id() -> str:
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}.{int(now % 1 * 1_000_000):06d}-{os.getpid()}"


class WriteRun:
    """One journaled write run over the dataset folder ``root`` (a context manager).

    ``command`` is recorded for ``undo --list``. Files are written with :meth:`write`;
    leaving the ``with`` block closes the run (a run that wrote nothing leaves no trace).
    Opening a run first tidies up after runs that were killed (:func:`recover`).
    """

    def __init__(self, root: Path, command: str) -> None:
        self.root = Path(root).resolve()
        self.command = command
        self.run_id = ""
        self.folder: Path | None = None
        self.files_written: list[Path] = []
        """Every file this run replaced, in order."""
        self._lock = _Lock(self.root)
        self._manifest: IO[bytes] | None = None
        self._originals: IO[bytes] | None = None
        self._offset = 0
        self._key = b""
        self._previous = ""

    # -- context manager -----------------------------------------------------------------

    def __enter__(self) -> WriteRun:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: object,
    ) -> None:
        self.close(status="ok" if kind is None else "aborted")

    def open(self) -> None:
        """Start the run: lock the journal and create the run folder."""
        if not self.root.is_dir():
            raise JournalError(f"{self.root}: not a folder; the journal needs the dataset folder")
        key = journal_key(create=True)
        assert key is not None
        self._key = key
        self._lock.acquire()
        folder: Path | None = None
        try:
            recover(self.root, _locked=True)
            base = journal_dir(self.root)
            while True:
                self.run_id = _new_run_id()
                folder = base / self.run_id
                try:
                    folder.mkdir()
                    break
                except FileExistsError:
                    time.sleep(0.001)
            self._previous = _chain_seed(self.run_id)
            self._originals = _create(folder / ORIGINALS)
            self._manifest = _create(folder / MANIFEST)
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
            fsync_folder(base)
            self.folder = folder
        except BaseException as error:
            for handle in (self._manifest, self._originals):
                if handle is not None:
                    with contextlib.suppress(OSError):
                        handle.close()
            self._manifest = self._originals = None
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            self._lock.release()
            if isinstance(error, OSError):
                raise JournalError(
                    f"{journal_dir(self.root)}: cannot start the backup journal "
                    f"({error.strerror or error}); nothing was written"
                ) from None
            raise

    def close(self, status: str = "ok") -> None:
        """End the run; remove its folder when it wrote nothing."""
        if self.folder is None:
            return
        try:
            if self._manifest is not None and self.files_written:
                with contextlib.suppress(OSError):  # a full disk: the run reads as killed
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
                    with contextlib.suppress(OSError):
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
        alone, when the file on disk is no longer ``original`` or may not be written
        (:class:`WriteRefusedError`).
        """
        self.write_many([(path, new_bytes, original)], raise_changed=True)

    def write_many(
        self,
        items: Iterable[tuple[Path, bytes, bytes | None]],
        *,
        raise_changed: bool = False,
    ) -> list[FileChangedError]:
        """:meth:`write` for many files: each batch of backups is flushed to disk once, then
        its files are replaced. Files that changed on disk or may not be written are
        skipped and returned (or, with ``raise_changed``, the first one is raised). A full
        disk or an I/O error stops the run with :class:`WriteFailedError`."""
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

        def refuse(error: FileChangedError) -> None:
            if raise_changed:
                raise error
            refused.append(error)

        ready: list[tuple[Path, str, bytes, bytes | None]] = []
        for path, new_bytes, original in batch:
            placed = dataset_relative(self.root, Path(path))
            if isinstance(placed, str):
                refuse(WriteRefusedError(Path(path), placed))
                continue
            target, relative = placed
            problem = write_refusal(target, exists=original is not None)
            if problem is not None:
                refuse(WriteRefusedError(Path(path), problem))
                continue
            current = _read_bytes(target)
            if current != original:
                refuse(
                    FileChangedError(
                        Path(path),
                        "was deleted since it was read"
                        if current is None
                        else "changed on disk since it was read",
                    )
                )
                continue
            ready.append((target, relative, new_bytes, original))
        if not ready:
            return refused
        # 1. back up every original, then 2. record them, then 3. flush both to disk.
        records = []
        try:
            for _target, relative, new_bytes, original in ready:
                offset = self._offset
                if original is not None:
                    self._originals.write(original)
                    self._offset += len(original)
                records.append(
                    {
                        "type": "file",
                        "path": relative,
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
        except OSError as error:
            raise WriteFailedError(
                f"{self.folder}: cannot write the backup journal ({error.strerror or error}); "
                f"the run stopped before changing these files" + self._so_far()
            ) from None
        # 4. only now replace the files, each atomically.
        staged: list[tuple[StagedWrite, Path]] = []
        done = 0
        try:
            for target, _relative, new_bytes, original in ready:
                shown = target
                current = _read_bytes(target)
                if current != original:  # changed while the backups were written
                    refuse(FileChangedError(shown))
                    continue
                try:
                    staged.append((stage_write(target, new_bytes), shown))
                except OSError as error:
                    self._write_error(shown, error, refuse)
            if len(staged) > 1:
                os.sync()
            for entry, shown in staged:
                done += 1
                try:
                    commit_write(entry)
                except OSError as error:
                    self._write_error(shown, error, refuse)
                    continue
                self.files_written.append(entry.target)
        finally:
            for entry, _shown in staged[done:]:  # an error stopped the batch: no stray files
                discard_write(entry)
        for folder in {target.parent for target, _r, _n, _o in ready}:
            fsync_folder(folder)
        return refused

    def _write_error(self, path: Path, error: OSError, refuse: Any) -> None:
        reason = error.strerror or str(error)
        if error.errno in PER_FILE_ERRORS:
            refuse(WriteRefusedError(path, f"cannot be written ({reason})"))
            return
        raise WriteFailedError(
            f"{path}: cannot be written ({reason}); the run stopped" + self._so_far()
        )

    def _so_far(self) -> str:
        if not self.files_written:
            return "; nothing was changed"
        return (
            f"; {len(self.files_written)} file(s) written before, "
            f"'anima-caption undo {self.root}' restores them"
        )

    def _append(self, record: dict[str, Any]) -> None:
        assert self._manifest is not None
        mac = _mac(self._key, self._previous, record)
        line = json.dumps({**record, "mac": mac}, ensure_ascii=False).encode("utf-8") + b"\n"
        self._manifest.write(line)
        self._previous = mac

    def _sync(self) -> None:
        assert self._manifest is not None
        self._manifest.flush()
        os.fsync(self._manifest.fileno())


def _create(path: Path) -> IO[bytes]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o666)
    return os.fdopen(fd, "ab")


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
    trusted: bool = True
    """Every manifest line is signed with this user's journal key. ``undo`` ignores
    runs that are not (planted, written elsewhere, altered)."""
    problem: str = ""
    """Why the run is not trusted."""
    written: int | None = None
    """How many files the run changed, as its end line says (None: no end line)."""
    chain: str = ""
    """The last verified signature (the next line is signed over it)."""
    verified_end: int = 0
    """Byte offset in the manifest just past the last verified line."""

    @property
    def size(self) -> int:
        """Bytes the run's journal takes on disk."""
        return sum(
            p.lstat().st_size for p in self.folder.iterdir() if stat.S_ISREG(p.lstat().st_mode)
        )

    @property
    def file_count(self) -> int:
        """The files the run changed (those it recorded, when it did not say)."""
        return len(self.files) if self.written is None else self.written


def _untrusted(folder: Path, problem: str) -> RunInfo:
    return RunInfo(
        id=folder.name,
        folder=folder,
        command="",
        started=0.0,
        status="untrusted",
        files=(),
        undone=False,
        trusted=False,
        problem=problem,
    )


_NOT_OURS = (
    "not signed with this user's journal key (planted in the dataset, written by another "
    "user or machine, or by an anima-caption without signed journals)"
)


def _read_run(folder: Path, key: bytes | None) -> RunInfo | None:
    try:
        handle = _open_nofollow(folder / MANIFEST)
    except OSError:
        return None
    header: dict[str, Any] | None = None
    status = "interrupted"
    written: int | None = None
    by_path: dict[str, FileRecord] = {}
    previous = _chain_seed(folder.name)
    verified_end = 0
    with handle:
        while True:
            line = handle.readline(MAX_LINE)
            if not line:
                break
            if not line.endswith(b"\n"):
                if handle.read(1):  # not the cut-short last line of a kill
                    return _untrusted(folder, "the manifest is damaged (a line too long)")
                break  # a line cut short by a kill: its file was never replaced
            try:
                record = json.loads(line)
                mac = record.pop("mac")
            except (ValueError, AttributeError, KeyError, TypeError):
                return _untrusted(folder, "the manifest is damaged or " + _NOT_OURS)
            if (
                key is None
                or not isinstance(mac, str)
                or not hmac.compare_digest(mac, _mac(key, previous, record))
            ):
                problem = _NOT_OURS if header is None else "the manifest was altered"
                return _untrusted(folder, problem)
            previous = mac
            verified_end = handle.tell()
            kind = record.get("type")
            try:
                if kind == "run":
                    header = record
                elif kind == "end":
                    status = str(record.get("status", "ok"))
                    written = int(record["files"])
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
            except (KeyError, TypeError, ValueError):
                return _untrusted(folder, "the manifest is damaged")
    if header is None:
        return None
    return RunInfo(
        id=str(header.get("id", folder.name)),
        folder=folder,
        command=str(header.get("command", "")),
        started=float(header.get("started", 0.0)),
        status=status,
        files=tuple(by_path.values()),
        undone=_undone(folder, key, previous),
        written=written,
        chain=previous,
        verified_end=verified_end,
    )


def _undone(folder: Path, key: bytes | None, chain: str) -> bool:
    """A valid ``undone.json`` (signed over the run's last line) marks the run undone."""
    if key is None:
        return False
    try:
        with _open_nofollow(folder / UNDONE) as handle:
            data = json.loads(handle.read(4096))
        mac = data.pop("mac")
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return False
    return isinstance(mac, str) and hmac.compare_digest(mac, _mac(key, "undone " + chain, data))


def _run_folders(root: Path) -> list[Path]:
    base = _journal_base(Path(root), create=False)
    if base is None:
        return []
    with os.scandir(base) as entries:
        folders = [
            base / entry.name
            for entry in entries
            if _RUN_NAME.match(entry.name) and entry.is_dir(follow_symlinks=False)
        ]
    return sorted(folders)


def list_runs(root: Path, *, untrusted: bool = False) -> list[RunInfo]:
    """Every run recorded under ``root``, oldest first (runs that wrote nothing are not
    kept). Runs this user's key did not sign are left out unless ``untrusted``."""
    key = journal_key(create=False)
    runs = []
    for folder in _run_folders(Path(root)):
        run = _read_run(folder, key)
        if run is None:
            continue
        if (run.trusted and run.files) or (not run.trusted and untrusted):
            runs.append(run)
    return runs


# -- after a kill ------------------------------------------------------------------------------


def recover(root: Path, *, _locked: bool = False) -> None:
    """Tidy up after runs that were killed: remove the hidden temporary files their
    writes left beside the captions, and close each run with what it really changed — a
    run that changed nothing is removed. Takes the journal lock (unless held)."""
    root = Path(root).resolve()
    key = journal_key(create=False)
    if key is None or _journal_base(root, create=False) is None:
        return
    lock = _Lock(root)
    if not _locked:
        lock.acquire()
    try:
        for folder in _run_folders(root):
            run = _read_run(folder, key)
            if run is None or not run.trusted or run.status != "interrupted" or run.undone:
                continue
            _recover_run(root, run, key)
    finally:
        if not _locked:
            lock.release()


def _recover_run(root: Path, run: RunInfo, key: bytes) -> None:
    by_folder: dict[Path, set[str]] = {}
    changed = 0
    for record in run.files:
        target = _safe_target(root, record.path)
        if isinstance(target, str):
            continue
        by_folder.setdefault(target.parent, set()).add(target.name)
        current = _read_bytes(target) if target.is_file() else None
        if current is not None and sha256(current) == record.new and record.new != record.old:
            changed += 1
    for folder, names in by_folder.items():
        _remove_stray_temporaries(folder, names)
    if not changed:
        shutil.rmtree(run.folder, ignore_errors=True)
        return
    end: dict[str, Any] = {
        "type": "end",
        "status": "interrupted",
        "files": changed,
        "ended": time.time(),
    }
    line = json.dumps({**end, "mac": _mac(key, run.chain, end)}, ensure_ascii=False)
    with contextlib.suppress(OSError):
        fd = os.open(run.folder / MANIFEST, os.O_WRONLY | _O_NOFOLLOW | _O_CLOEXEC)
        try:
            os.ftruncate(fd, run.verified_end)  # drop a line cut short by the kill
            os.lseek(fd, run.verified_end, os.SEEK_SET)
            os.write(fd, line.encode("utf-8") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_stray_temporaries(folder: Path, names: set[str]) -> None:
    """Delete ``.NAME.XXXXXXXX.tmp`` files a killed write left for the files ``names``."""
    try:
        entries = [entry.name for entry in folder.iterdir()]
    except OSError:
        return
    for entry in entries:
        if not (entry.startswith(".") and entry.endswith(".tmp")):
            continue
        stem = entry[1:-4]
        name, _, random_part = stem.rpartition(".")
        if name in names and len(random_part) == 8:
            path = folder / entry
            with contextlib.suppress(OSError):
                if stat.S_ISREG(path.lstat().st_mode):
                    path.unlink()


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
    """Files not touched, with the reason (changed since the run, damaged backup, a path
    the tool will not write)."""
    ignored: list[RunInfo] = field(default_factory=list)
    """Runs in the journal that were not considered because this user's key did not sign
    them (see :attr:`RunInfo.trusted`)."""

    @property
    def complete(self) -> bool:
        """Every file of the run holds its original bytes now (or would, for a dry run)."""
        return self.run is not None and not self.refused


def undo(root: Path, *, dry_run: bool = False, run_id: str | None = None) -> UndoResult:
    """Restore the files of the last run under ``root`` that is not yet undone (or of the
    run ``run_id``).

    Only runs signed with this user's journal key are considered; others are listed in
    :attr:`UndoResult.ignored`. Files changed since that run are refused and reported,
    never overwritten; each restore is atomic. When every file is back, the run is marked
    undone, so the next ``undo`` goes one run further back.
    """
    root = Path(root).resolve()
    if _journal_base(root, create=False) is None:
        return UndoResult(run=None, dry_run=dry_run)
    lock = _Lock(root)
    lock.acquire()
    try:
        recover(root, _locked=True)
        every = list_runs(root, untrusted=True)
        runs = [r for r in every if r.trusted]
        result = UndoResult(run=None, dry_run=dry_run, ignored=[r for r in every if not r.trusted])
        if run_id is not None:
            chosen = [r for r in every if r.id == run_id or r.id.startswith(run_id)]
            if len(chosen) != 1:
                raise JournalError(
                    f"{root}: no run {run_id!r} in the journal"
                    if not chosen
                    else f"{root}: {run_id!r} names several runs; give more of the id"
                )
            if not chosen[0].trusted:
                raise JournalError(f"{chosen[0].folder}: not undone: {chosen[0].problem}")
            run: RunInfo | None = chosen[0]
        else:
            pending = [r for r in runs if not r.undone]
            run = pending[-1] if pending else None
        result.run = run
        if run is None:
            return result
        _undo_run(root, run, result)
        if not dry_run and result.complete:
            key = journal_key(create=False)
            assert key is not None
            marker = {"undone": time.time(), "restored": len(result.restored)}
            marker["mac"] = _mac(key, "undone " + run.chain, marker)  # type: ignore[assignment]
            with contextlib.suppress(OSError):
                (run.folder / UNDONE).unlink(missing_ok=True)
                with _create(run.folder / UNDONE) as handle:
                    handle.write(json.dumps(marker).encode() + b"\n")
        return result
    finally:
        lock.release()


def _undo_run(root: Path, run: RunInfo, result: UndoResult) -> None:
    originals_path = run.folder / ORIGINALS
    try:
        originals = _open_nofollow(originals_path)
    except OSError as error:
        raise JournalError(
            f"{originals_path}: cannot read the backups: {error.strerror or error}"
        ) from None
    with originals:
        for record in run.files:
            target = _safe_target(root, record.path)
            if isinstance(target, str):
                result.refused.append((root / str(record.path), f"{target}; left as it is"))
                continue
            path = target
            problem = write_refusal(path, exists=False)
            if problem is not None:
                result.refused.append((path, f"{problem}; left as it is"))
                continue
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
                try:
                    if backup is None:
                        path.unlink()
                    else:
                        write_atomic(path, backup)
                except OSError as error:
                    result.refused.append(
                        (path, f"cannot be restored ({error.strerror or error}); left as it is")
                    )
                    continue
            result.restored.append(path)


def iter_run_summaries(root: Path) -> Iterator[tuple[RunInfo, Literal["undone", "active"]]]:
    """``(run, state)`` for every run under ``root``, newest first (for ``undo --list``)."""
    for run in reversed(list_runs(root)):
        yield run, "undone" if run.undone else "active"
