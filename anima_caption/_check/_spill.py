"""What a ``check`` over a dataset source keeps, on disk: memory stays flat with the rows.

* :class:`CaptionSpill` holds what the dataset rules read of each caption (its id, display
  name, tags and sentences) in a temporary SQLite file, and in memory only what is bounded
  by the distinct tags: one :class:`TagSummary` per tag text, the first caption holding it
  and how many captions hold it. The dataset rules read it through
  ``_rules_dataset.SpilledIndex`` (a pass over the file where the in-memory index would
  keep a set per caption; duplicate captions by SQLite's external sort).
* :class:`RecordSpill` keeps the diagnostics (and the text of each caption that has one,
  for the caret frames) in sorted runs in a temporary file once there are more than
  ``limit``, and merges the runs at the end: the report is written in order with a
  run's chunk per run in memory.

Both give the same diagnostics in the same order as the in-memory path (the folder
engine), which the differential tests check.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import pickle
import sqlite3
import struct
import tempfile
import weakref
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path, PurePosixPath
from typing import IO, Any, overload

from anima_caption._check._context import DatasetEntry, TagSummary
from anima_caption._check._diagnostic import DiagnosticRecord

_BLOCK = 4096
_EMPTY: frozenset[str] = frozenset()


def _remove(path: str, closers: list[Any]) -> None:
    for closer in closers:
        with contextlib.suppress(Exception):  # best effort, perhaps at exit
            closer()
    with contextlib.suppress(OSError):
        Path(path).unlink()


class CaptionSpill(Sequence[DatasetEntry]):
    """The dataset entries of a run, appended one by one, kept in a temporary file.

    Reads (indexing, iteration) see every entry appended so far. Tag summaries are
    shared per text: an entry read back holds the first summary of each of its texts
    (the dataset rules rely on a tag's name, kind and kaomoji flag following from its
    text).
    """

    def __init__(self) -> None:
        fd, self._path = tempfile.mkstemp(prefix="anima-caption-dataset-", suffix=".sqlite")
        os.close(fd)
        db = self._db = sqlite3.connect(self._path, check_same_thread=False)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "temp_store=FILE",
            "cache_size=-8192",  # 8 MiB of pages; SQLite's sorter spills beyond that
        ):
            db.execute(f"PRAGMA {pragma}")
        db.execute(
            "CREATE TABLE c (i INTEGER PRIMARY KEY, path TEXT, display TEXT, tags BLOB, "
            "sentences TEXT, dup BLOB)"
        )
        self._finalizer = weakref.finalize(self, _remove, self._path, [db.close])
        self._pending: list[tuple[int, str, str, bytes | None, str, bytes | None]] = []
        self._size = 0
        #: Per tag text, in order of first appearance: its id is its position.
        self.ids: dict[str, int] = {}
        self.tags: list[TagSummary] = []
        self.text_of: list[str] = []
        #: Per text: the first caption holding it, and how many captions hold it.
        self.first: dict[str, int] = {}
        self.holding: array[int] = array("q")
        #: Captions with at least one tag.
        self.tagged = 0

    def close(self) -> None:
        """Remove the file (also done when the spill is garbage-collected)."""
        self._finalizer()

    # -- writing ----------------------------------------------------------------------------
    def append(self, entry: DatasetEntry) -> None:
        """Add one caption's entry."""
        i = self._size
        self._size += 1
        tags = entry.tags
        blob: bytes | None = None
        dup: bytes | None = None
        sentences = entry.sentences
        if tags is not None:
            ids = self.ids
            own: list[int] = []
            for tag in tags:
                number = ids.get(tag.text)
                if number is None:
                    number = ids[tag.text] = len(self.tags)
                    self.tags.append(tag)
                    self.text_of.append(tag.text)
                    self.first[tag.text] = i
                    self.holding.append(0)
                own.append(number)
            blob = array("I", own).tobytes()
            distinct = sorted(set(own))
            holding = self.holding
            for number in distinct:
                holding[number] += 1
            if distinct:
                self.tagged += 1
            if distinct or sentences:
                dup = struct.pack("<I", len(distinct)) + array("I", distinct).tobytes()
                dup += json.dumps(sentences, ensure_ascii=False).encode("utf-8")
        elif sentences:  # never made by DatasetEntry.of, kept exact all the same
            dup = struct.pack("<I", 0) + json.dumps(sentences, ensure_ascii=False).encode()
        self._pending.append((i, str(entry.path), entry.display, blob, json.dumps(sentences), dup))
        if len(self._pending) >= _BLOCK:
            self._flush()

    def extend(self, entries: Iterable[DatasetEntry]) -> None:
        """Add entries in order."""
        for entry in entries:
            self.append(entry)

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT INTO c VALUES (?, ?, ?, ?, ?, ?)", self._pending)
            self._pending = []

    # -- reading ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> DatasetEntry: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[DatasetEntry]: ...
    def __getitem__(self, index: int | slice) -> DatasetEntry | Sequence[DatasetEntry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError(index)
        self._flush()
        row = self._db.execute(
            "SELECT path, display, tags, sentences FROM c WHERE i = ?", (index,)
        ).fetchone()
        return self._entry(row)

    def __iter__(self) -> Iterator[DatasetEntry]:
        entry = self._entry
        for row in self._rows("path, display, tags, sentences"):
            yield entry(row)

    def _entry(self, row: tuple[str, str, bytes | None, str]) -> DatasetEntry:
        path, display, blob, sentences = row
        tags = None
        if blob is not None:
            summaries = self.tags
            tags = tuple(summaries[n] for n in array("I", blob))
        return DatasetEntry(PurePosixPath(path), display, tags, tuple(json.loads(sentences)))  # type: ignore[arg-type]

    def _rows(self, columns: str, where: str = "") -> Iterator[tuple[Any, ...]]:
        self._flush()
        cursor = self._db.execute(f"SELECT {columns} FROM c {where} ORDER BY i")
        while True:
            rows = cursor.fetchmany(_BLOCK)
            if not rows:
                return
            yield from rows

    def texts(self) -> Iterator[frozenset[str] | None]:
        """Per caption, in order: the texts of its tags (None when undecodable)."""
        text_of = self.text_of.__getitem__
        for (blob,) in self._rows("tags"):
            yield None if blob is None else frozenset(map(text_of, array("I", blob)))

    def texts_at(self, index: int) -> frozenset[str] | None:
        """The texts of caption ``index``'s tags."""
        tags = self[index].tags
        return None if tags is None else frozenset(t.text for t in tags)

    def duplicates(self) -> Iterator[tuple[int, int]]:
        """``(caption, first caption with the same tags and sentences)`` for every caption
        repeating an earlier one (SQLite sorts the keys on disk)."""
        self._flush()
        cursor = self._db.execute("SELECT i, dup FROM c WHERE dup IS NOT NULL ORDER BY dup, i")
        key: bytes | None = None
        original = -1
        while True:
            rows = cursor.fetchmany(_BLOCK)
            if not rows:
                return
            for i, dup in rows:
                if dup == key:
                    yield i, original
                else:
                    key, original = dup, i


# -- diagnostics -----------------------------------------------------------------------------

_Item = tuple[tuple[str, int, int, str], DiagnosticRecord, str | None]
_key = itemgetter(0)


class RecordSpill:
    """Diagnostics of a run, with their caption's text, given back sorted by
    :meth:`DiagnosticRecord.sort_key` (ties in the order they came).

    Past ``limit`` records in memory, the buffer is sorted and written to a temporary
    file as one run (pickled in chunks); :meth:`merged` merges the runs.
    """

    def __init__(self, limit: int | None = 20_000) -> None:
        self.limit = limit
        self._buffer: list[_Item] = []
        self._runs: list[tuple[int, int]] = []  # (offset, chunks) in the file
        self._file: IO[bytes] | None = None
        self.severity: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()
        self.shown: Counter[str] = Counter()
        """Records per severity that :meth:`merged` gave back (the report's counts)."""
        self.likely: frozenset[str] = _EMPTY
        """Tag texts DS005 found to be the likely trigger: their TG005 reports are left
        out (as the folder engine does)."""

    def add(self, records: Iterable[DiagnosticRecord], text: str | None) -> None:
        """Add one caption's records (``text``: its text, for caret frames)."""
        buffer = self._buffer
        severity, codes = self.severity, self.codes
        for record in records:
            buffer.append((record.sort_key(), record, text))
            severity[record.severity.value] += 1
            codes[record.code] += 1
        if self.limit is not None and len(buffer) >= self.limit:
            self._spill()

    def __len__(self) -> int:
        return self.severity.total()

    @property
    def errors(self) -> int:
        """Error-severity records (likely-trigger TG005 reports included)."""
        return self.severity["error"]

    def _spill(self) -> None:
        buffer = self._buffer
        buffer.sort(key=_key)
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="anima-caption-diagnostics-")  # noqa: SIM115
        handle = self._file
        handle.seek(0, os.SEEK_END)
        start = handle.tell()
        chunks = 0
        for low in range(0, len(buffer), 1024):
            pickle.dump(buffer[low : low + 1024], handle, protocol=pickle.HIGHEST_PROTOCOL)
            chunks += 1
        self._runs.append((start, chunks))
        self._buffer = []

    def _run(self, start: int, chunks: int) -> Iterator[_Item]:
        assert self._file is not None
        handle = self._file
        position = start
        for _ in range(chunks):
            handle.seek(position)
            items: list[_Item] = pickle.load(handle)  # our own file
            position = handle.tell()
            yield from items

    def merged(self) -> Iterator[tuple[DiagnosticRecord, str | None]]:
        """Every record, sorted, with its caption's text (None for dataset findings)."""
        self._buffer.sort(key=_key)
        streams: list[Iterable[_Item]] = [self._run(*run) for run in self._runs]
        streams.append(self._buffer)
        items: Iterable[_Item] = (
            streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_key)
        )
        likely = self.likely
        from anima_caption._normalize import normalize_tag

        shown = self.shown
        shown.clear()
        for _, record, text in items:
            if likely and record.code == "TG005" and record.span is not None and text is not None:
                start, end = record.span
                if normalize_tag(text[start:end]) in likely:
                    continue
            shown[record.severity.value] += 1
            yield record, text

    def records(self) -> list[DiagnosticRecord]:
        """Every record, sorted (in memory: for formats written whole)."""
        return [record for record, _ in self.merged()]

    def close(self) -> None:
        """Remove the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None
