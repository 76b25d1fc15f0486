"""Reading caption files (decode, BOM, newlines) and writing them atomically.

Every command that reads or writes captions goes through here. Reading never guesses an
encoding: a file that is not UTF-8 is refused with the byte offset of the first bad byte.
Writing goes to a temporary file in the same folder and is renamed over the target, so a
crash leaves either the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from anima_caption._errors import CaptionDecodeError, UsageError

#: Caption files larger than this are refused: captions are short text, and a file this
#: big is almost always something else that happens to end in ``.txt``.
MAX_CAPTION_BYTES = 1 << 20

UTF8_BOM = b"\xef\xbb\xbf"
Newline = Literal["\n", "\r\n", "\r", "mixed", "none"]


@dataclass(frozen=True)
class CaptionFile:
    """A caption file's decoded text and how it was stored."""

    path: Path
    text: str
    """The text, BOM removed, line ends exactly as stored."""
    bom: bool
    """The file started with a UTF-8 byte-order mark."""
    newline: Newline
    """The line-end style used in the file (``mixed`` when several are, ``none`` if none)."""
    data: bytes
    """The exact bytes read (for backups and change detection)."""

    @property
    def empty(self) -> bool:
        """True when the file holds nothing but whitespace."""
        return not self.text.strip()


def read_caption_file(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_CAPTION_BYTES
) -> CaptionFile:
    """Read and decode a caption file, or raise :class:`CaptionDecodeError` saying why not.

    Accepts UTF-8 with or without a BOM and any of ``\\r\\n``, ``\\r``, ``\\n``. Refuses
    (with the byte offset where it applies) invalid UTF-8, UTF-16/32 text, binary files
    and files over ``max_bytes``. An empty file is read as empty text.
    """
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise CaptionDecodeError(
                str(file),
                f"file is {size:,} bytes; a caption file over {max_bytes:,} bytes is refused",
            )
        data = file.read_bytes()
    except OSError as error:
        raise CaptionDecodeError(str(file), f"cannot read: {error.strerror or error}") from None
    return decode_caption(data, file)


def decode_caption(data: bytes, path: Path) -> CaptionFile:
    """Decode caption bytes (see :func:`read_caption_file`)."""
    name = str(path)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CaptionDecodeError(name, "file is UTF-16 or UTF-32 encoded; save it as UTF-8")
    nul = data.find(b"\x00")
    if nul != -1:
        raise CaptionDecodeError(
            name, "binary file (contains a NUL byte), not a caption", offset=nul
        )
    bom = data.startswith(UTF8_BOM)
    body = data[len(UTF8_BOM) :] if bom else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start + (len(UTF8_BOM) if bom else 0)
        line = data[:offset].count(b"\n") + 1
        raise CaptionDecodeError(
            name, f"invalid UTF-8 (byte 0x{body[error.start]:02x}) on line {line}", offset=offset
        ) from None
    return CaptionFile(path=path, text=text, bom=bom, newline=newline_style(text), data=data)


def newline_style(text: str) -> Newline:
    """Which line-end style ``text`` uses."""
    crlf = text.count("\r\n")
    cr = text.count("\r") - crlf
    lf = text.count("\n") - crlf
    styles = [style for style, count in (("\r\n", crlf), ("\r", cr), ("\n", lf)) if count]
    if not styles:
        return "none"
    if len(styles) > 1:
        return "mixed"
    return styles[0]  # type: ignore[return-value]


def new_file_mode() -> int:
    """The permission bits a new file gets here: ``0o666`` less the process umask (what
    ``open()`` would give; ``mkstemp`` alone would make it private, ``0o600``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:  # noqa: PTH123
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # no /proc: read the umask by setting it (and back) under a lock
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


_UMASK_LOCK = threading.Lock()
#: ``errno`` values that concern one file only (its folder is not writable, the file system
#: is mounted read-only…): that file is refused and the run goes on. Anything else (a full
#: disk, an I/O error) stops the run.
PER_FILE_ERRORS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR}
)


@dataclass
class StagedWrite:
    """A replacement prepared by :func:`stage_write`, made real by :func:`commit_write`."""

    target: Path
    data: bytes
    tmp: Path | None
    """The temporary file renamed over ``target``; None when ``target`` is rewritten in
    place (see :func:`stage_write`)."""


def stage_write(target: Path, data: bytes, *, sync: bool = False) -> StagedWrite:
    """Prepare replacing ``target`` with ``data``; nothing visible changes yet.

    Usually ``data`` goes to a hidden temporary file beside ``target`` (``.NAME.XXXXXXXX.tmp``)
    that :func:`commit_write` renames over it: a crash leaves the old or the new file, never
    half of either. The file keeps its permission bits, and its owner and group where the
    process may set them (as root, always). A new file gets :func:`new_file_mode`.

    A rename would give ``target`` a new identity, which is wrong in two cases, where the
    file is instead rewritten in place at commit time (same inode, not atomic; the backup
    journal keeps the original bytes): a file with several hard links (every link must see
    the new caption: ``train --layout hardlink`` folders), and a file whose owner this
    process cannot give to a new file.
    """
    try:
        info: os.stat_result | None = target.lstat()
    except FileNotFoundError:
        info = None
    link = info is not None and stat.S_ISLNK(info.st_mode)
    if link:  # a link itself is replaced, never written through; it had its target's mode
        try:
            info = target.stat()
        except OSError:
            info = None
    elif info is not None and stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        return StagedWrite(target, data, None)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        if info is None:
            tmp.chmod(new_file_mode())
            return StagedWrite(target, data, tmp)
        tmp.chmod(info.st_mode & 0o7777)
        mine = tmp.stat()
        if (mine.st_uid, mine.st_gid) != (info.st_uid, info.st_gid):
            try:
                os.chown(tmp, info.st_uid, info.st_gid)
            except OSError:
                if mine.st_uid != info.st_uid and not link:  # cannot keep the owner: in place
                    tmp.unlink(missing_ok=True)
                    return StagedWrite(target, data, None)
                with contextlib.suppress(OSError):  # the group only: keep it if allowed
                    os.chown(tmp, -1, info.st_gid)
            tmp.chmod(info.st_mode & 0o7777)  # chown clears the set-id bits
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return StagedWrite(target, data, tmp)


def commit_write(staged: StagedWrite) -> None:
    """Make a staged write real (rename, or rewrite in place); on failure nothing of it
    is left behind."""
    if staged.tmp is None:
        fd = os.open(staged.target, os.O_WRONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        try:
            view = memoryview(staged.data)
            while view:
                view = view[os.write(fd, view) :]
            os.ftruncate(fd, len(staged.data))
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    try:
        staged.tmp.replace(staged.target)
    except BaseException:
        discard_write(staged)
        raise


def discard_write(staged: StagedWrite) -> None:
    """Remove a staged write's temporary file."""
    if staged.tmp is not None:
        staged.tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp file in the same folder + rename).

    Permission bits, owner and group are kept (see :func:`stage_write`, which also says
    when a file is rewritten in place instead); a new file gets the umask's mode. On any
    failure the temporary file is removed and the original is untouched.
    """
    target = Path(path)
    staged = stage_write(target, data, sync=True)
    commit_write(staged)
    fsync_folder(target.parent)


def write_atomic_many(items: Sequence[tuple[Path, bytes]]) -> None:
    """:func:`write_atomic` for a batch of files, with one flush to disk for the batch.

    Every new file is written under a temporary name beside its target, one ``os.sync()``
    puts them all on disk, and only then is each renamed over its target (and the folders
    flushed): a crash leaves every file wholly old or wholly new, as with one ``fsync`` per
    file, at a fraction of the cost on large runs. Temporary names are hidden files, which
    no dataset walk reads as captions.
    """
    staged: list[StagedWrite] = []
    done = 0
    try:
        for target, data in items:
            staged.append(stage_write(target, data))
        os.sync()
        for entry in staged:
            commit_write(entry)
            done += 1
    except BaseException:
        for entry in staged[done:]:
            discard_write(entry)
        raise
    for folder in {target.parent for target, _ in items}:
        fsync_folder(folder)


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename) to disk; best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def encode_caption(text: str, *, bom: bool = False) -> bytes:
    """UTF-8 bytes of ``text``, with a BOM when asked."""
    data = text.encode("utf-8")
    return UTF8_BOM + data if bom else data


def iter_caption_files(
    paths: Iterable[str | os.PathLike[str]], *, extensions: tuple[str, ...] = (".txt",)
) -> Iterator[Path]:
    """Caption files named by ``paths``: files as given, folders searched recursively.

    Folders are walked in sorted order; hidden folders (``.git``, ``.anima-caption``) are
    skipped. A path that does not exist raises :class:`UsageError` (exit code 2).
    """
    wanted = tuple(e.lower() for e in extensions)
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path, wanted)
        elif path.exists():
            yield path
        else:
            raise UsageError(f"{path}: no such file or directory")


def _walk(folder: Path, extensions: tuple[str, ...]) -> Iterator[Path]:
    for path in walk_dataset(folder):
        if path.name.lower().endswith(extensions):
            yield path


def walk_dataset(folder: Path) -> Iterator[Path]:
    """Every file under ``folder`` in sorted order, skipping hidden files and folders
    (``.git``, ``.anima-caption``): the one walk every dataset command uses."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def unified_diff(display: str, old: str, new: str, *, bom_removed: bool = False) -> str:
    """A unified diff of one caption file's change (``a/PATH`` → ``b/PATH``).

    Lines without a final line end get the usual ``\\ No newline at end of file`` marker,
    so the output applies with ``patch``/``git apply``; a removed byte-order mark, which no
    text diff shows, is named in a trailing comment line.
    """
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{display}",
        tofile=f"b/{display}",
    )
    out = [
        line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n"
        for line in lines
    ]
    if bom_removed:
        out.append(f"# {display}: byte-order mark removed\n")
    return "".join(out)
