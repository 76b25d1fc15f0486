"""Caches of ``review serve`` in the user cache folder (never inside the dataset):

* :class:`CheckCache` — each caption's caption-rule findings, keyed by the caption's path
  in the dataset and the SHA-256 of its bytes, in one JSON file per dataset and
  *fingerprint* (the package's code, the configuration, the rule selection and the tag
  database's file): a second opening of an unchanged dataset reads the findings instead of
  checking every caption again. Any change to a file's bytes, the configuration, the
  database or the code misses the cache; a file that cannot be read as this module wrote
  it is ignored whole.
* :func:`prune` — the thumbnail cache's size cap: least recently used files (by
  modification time, which a cache hit refreshes) are deleted until the folder fits.

Everything here may be deleted at any time: it only makes the next opening faster.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anima_caption._check._diagnostic import DiagnosticRecord
    from anima_caption._check._engine import Checker

#: Format of the check cache's files (bump when the stored form changes).
FORMAT = 1
#: Default size cap of the thumbnail cache (all datasets together).
THUMB_CACHE_BYTES = 512 * 1024 * 1024
#: Check cache files kept (all datasets together; the least recently used go first).
CHECK_CACHE_FILES = 64


def fingerprint(checker: Checker, extra: str = "") -> str | None:
    """What the caption rules' findings depend on besides the caption, as a digest; None
    when it cannot be told (then nothing is cached)."""
    import anima_caption
    from anima_caption._version import __version__

    digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0{extra}".encode())
    try:
        digest.update(checker.config.model_dump_json().encode())
        selection = checker._selection
        digest.update(repr(sorted(selection.selected)).encode())
        digest.update(
            repr(
                sorted((k, None if v is None else v.value) for k, v in selection.severities.items())
            ).encode()
        )
        db = checker.db
        path = getattr(db, "path", None)
        if path is not None:
            info = Path(path).stat()
            digest.update(f"db\0{path}\0{info.st_size}\0{info.st_mtime_ns}".encode())
        # The code itself: a rule changed in a working tree (same version) misses the cache.
        package = Path(anima_caption.__file__).parent
        for file in sorted(package.rglob("*")):
            if file.suffix in (".py", ".so", ".pyd") and "__pycache__" not in file.parts:
                info = file.stat()
                digest.update(
                    f"{file.relative_to(package)}\0{info.st_size}\0{info.st_mtime_ns}".encode()
                )
    except (OSError, AttributeError, TypeError, ValueError):
        return None
    return digest.hexdigest()


def content_key(data: bytes) -> str:
    """The cache key of a caption's bytes."""
    return hashlib.sha256(data).hexdigest()[:32]


class CheckCache:
    """Caption-rule findings by ``(key in the dataset, content digest)`` (see the module)."""

    def __init__(self, folder: Path, dataset: str, print_: str) -> None:
        name = hashlib.sha256(dataset.encode("utf-8")).hexdigest()[:16]
        self.folder = folder
        self.prefix = name
        self.path = folder / f"{name}-{print_[:24]}.json"
        self._entries: dict[str, tuple[str, list[Any]]] | None = None
        self._dirty = False
        self.hits = 0
        self.misses = 0

    def _load(self) -> dict[str, tuple[str, list[Any]]]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, tuple[str, list[Any]]] = {}
        try:
            doc = json.loads(self.path.read_bytes())
            if isinstance(doc, dict) and doc.get("format") == FORMAT:
                for key, value in doc["entries"].items():
                    digest, records = value
                    if isinstance(digest, str) and isinstance(records, list):
                        entries[key] = (digest, records)
            os.utime(self.path)  # recently used (the pruning's order)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = {}
        self._entries = entries
        return entries

    def get(self, key: str, digest: str, display: str) -> list[DiagnosticRecord] | None:
        """The findings stored for ``key`` with these bytes, named ``display``; else None."""
        found = self._load().get(key)
        if found is None or found[0] != digest:
            self.misses += 1
            return None
        try:
            records = [_record(display, r) for r in found[1]]
        except (ValueError, TypeError, KeyError, IndexError):
            self.misses += 1
            return None
        self.hits += 1
        return records

    def put(self, key: str, digest: str, records: list[DiagnosticRecord]) -> None:
        """Remember ``key``'s findings for these bytes."""
        entries = self._load()
        entries[key] = (digest, [_plain(r) for r in records])
        self._dirty = True

    def save(self) -> None:
        """Write the cache (atomically) if it changed; drop this dataset's files of other
        fingerprints and the least recently used ones beyond :data:`CHECK_CACHE_FILES`."""
        from anima_caption._io import write_atomic

        if not self._dirty or self._entries is None:
            return
        doc = {"format": FORMAT, "entries": {k: list(v) for k, v in self._entries.items()}}
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(self.path, json.dumps(doc, separators=(",", ":")).encode("utf-8"))
        except OSError:
            return  # a read-only cache folder: nothing cached
        self._dirty = False
        for other in self.folder.glob(f"{self.prefix}-*.json"):
            if other != self.path:
                _unlink(other)
        prune(self.folder, max_files=CHECK_CACHE_FILES, keep=self.path)


def _plain(record: DiagnosticRecord) -> list[Any]:
    fix = record.fix
    return [
        record.line,
        record.column,
        record.code,
        record.slug,
        record.severity.value,
        record.message,
        record.end_line,
        record.end_column,
        None if record.span is None else list(record.span),
        None
        if fix is None
        else [
            fix.applicability.value,
            fix.message,
            [[e.start, e.end, e.content] for e in fix.edits],
        ],
        record.url,
    ]


def _record(display: str, plain: list[Any]) -> DiagnosticRecord:
    from anima_caption._check._diagnostic import (
        Applicability,
        DiagnosticRecord,
        EditRecord,
        FixRecord,
        Severity,
    )

    line, column, code, slug, severity, message, end_line, end_column, span, fix, url = plain
    record_fix = None
    if fix is not None:
        applicability, fix_message, edits = fix
        record_fix = FixRecord(
            Applicability(applicability),
            str(fix_message),
            tuple(EditRecord(int(s), int(e), str(c)) for s, e, c in edits),
        )
    return DiagnosticRecord(
        display,
        int(line),
        int(column),
        str(code),
        str(slug),
        Severity(severity),
        str(message),
        int(end_line),
        int(end_column),
        None if span is None else (int(span[0]), int(span[1])),
        record_fix,
        str(url),
    )


def prune(
    folder: Path,
    *,
    max_bytes: int | None = None,
    max_files: int | None = None,
    keep: Path | None = None,
) -> int:
    """Delete the least recently modified files under ``folder`` (any depth) until at most
    ``max_bytes`` bytes and ``max_files`` files are left; ``keep`` is never deleted.
    Returns how many files were deleted. Links and anything not a regular file are left
    alone; errors (a file already gone, a read-only folder) are ignored."""
    import stat

    files: list[tuple[int, int, Path]] = []
    try:
        walker = list(os.walk(folder))
    except OSError:
        return 0
    for base, _dirs, names in walker:
        for name in names:
            path = Path(base) / name
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                files.append((info.st_mtime_ns, info.st_size, path))
    files.sort()  # oldest first
    total = sum(size for _m, size, _p in files)
    count = len(files)
    deleted = 0
    for _mtime, size, path in files:
        over_bytes = max_bytes is not None and total > max_bytes
        over_files = max_files is not None and count > max_files
        if not (over_bytes or over_files):
            break
        if keep is not None and path == keep:
            continue
        if _unlink(path):
            deleted += 1
            total -= size
            count -= 1
    return deleted


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True
