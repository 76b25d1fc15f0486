"""Reading caption files (decode, BOM, newlines) and writing them atomically.

Every command that reads or writes captions goes through here. Reading never guesses an
encoding: a file that is not UTF-8 is refused with the byte offset of the first bad byte.
Writing goes to a temporary file in the same folder and is renamed over the target, so a
crash leaves either the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
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


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp file in the same folder + rename).

    The file's permission bits are kept. On any failure the temporary file is removed and
    the original is untouched.
    """
    target = Path(path)
    mode = target.stat().st_mode & 0o7777 if target.exists() else None
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            tmp.chmod(mode)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic_many(items: Sequence[tuple[Path, bytes]]) -> None:
    """:func:`write_atomic` for a batch of files, with one flush to disk for the batch.

    Every new file is written under a temporary name beside its target, one ``os.sync()``
    puts them all on disk, and only then is each renamed over its target (and the folders
    flushed): a crash leaves every file wholly old or wholly new, as with one ``fsync`` per
    file, at a fraction of the cost on large runs. Temporary names are hidden files, which
    no dataset walk reads as captions.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for target, data in items:
            mode = target.stat().st_mode & 0o7777 if target.exists() else None
            fd, tmp_name = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
            )
            tmp = Path(tmp_name)
            staged.append((tmp, target))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if mode is not None:
                tmp.chmod(mode)
        os.sync()
        for done, (tmp, target) in enumerate(staged):
            tmp.replace(target)
            staged[done] = (target, target)  # renamed: nothing left to clean up
    except BaseException:
        for tmp, target in staged:
            if tmp != target:
                tmp.unlink(missing_ok=True)
        raise
    for folder in {target.parent for target, _ in items}:
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
