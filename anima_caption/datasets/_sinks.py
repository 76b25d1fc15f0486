"""Dataset sinks: where converted or checked captions are written.

* :class:`FolderSink` — ``.txt`` files (today's layout), written through the backup
  journal (``anima-caption undo``).
* :class:`JsonLinesSink` — one object per line (Hugging Face ``metadata.jsonl``,
  sd-scripts style JSON lines).
* :class:`SdScriptsJsonSink` — sd-scripts fine-tuning metadata ``{key: {"caption": …}}``.
* :class:`CaptionsJsonSink` — diffusion-pipe ``captions.json`` ``{file: [captions]}``.
* :class:`ParquetSink` — the new caption beside the id, and a ``diagnostics`` (check) or
  ``changes`` (convert) column of structs.

File sinks write to a temporary file beside the target and rename it into place when the
run ends well (a failed run leaves nothing half-written); they never replace an existing
file, and a tar shard is never written at all.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

from anima_caption._errors import UsageError
from anima_caption.datasets._sources import Record, safe_member_name

#: Rows buffered before a parquet row group is written.
PARQUET_BATCH = 16_384


class Output(NamedTuple):
    """One caption to write: its record (id, original text, what the source kept), the
    new text, and what was found or done."""

    record: Record
    text: str
    diagnostics: list[dict[str, Any]] | None = None
    changes: list[dict[str, str]] | None = None
    changed: bool | None = None
    """Whether the caption changed (None: compare with the record's text)."""


class Sink:
    """Base of the sinks: :meth:`write` each output, then :meth:`close`."""

    path: Path

    def write(self, out: Output) -> None:
        """Add one caption."""
        raise NotImplementedError

    def close(self, *, ok: bool = True) -> None:
        """Finish (``ok``) or abandon (nothing is left behind) the output."""
        raise NotImplementedError

    @property
    def written(self) -> int:
        """Captions written so far."""
        return self._count

    _count = 0


class _StagedFile(Sink):
    """A file sink: written under a temporary name, renamed into place by :meth:`close`."""

    def __init__(self, path: Path, *, binary: bool = False) -> None:
        if path.exists():
            raise UsageError(f"{path}: already exists; remove it or choose another --out")
        if not path.parent.is_dir():
            raise UsageError(f"{path.parent}: no such folder for --out")
        self.path = path
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        self.tmp = Path(name)
        self.handle: IO[Any] = (
            os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        )
        self._count = 0

    def _finish(self) -> None:
        """What a format writes at the end (before the rename)."""

    def close(self, *, ok: bool = True) -> None:
        try:
            if ok:
                self._finish()
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            if ok:
                self.tmp.replace(self.path)
        finally:
            if not self.handle.closed:
                self.handle.close()
            self.tmp.unlink(missing_ok=True)


class JsonLinesSink(_StagedFile):
    """``{"<id_key>": id, "<caption_key>": caption}`` per line (plus ``diagnostics`` /
    ``changes`` when given)."""

    def __init__(self, path: Path, *, id_key: str = "file_name", caption_key: str = "text") -> None:
        super().__init__(path)
        self.id_key = id_key
        self.caption_key = caption_key

    def write(self, out: Output) -> None:
        obj: dict[str, Any] = {self.id_key: out.record.id, self.caption_key: out.text}
        if out.diagnostics is not None:
            obj["diagnostics"] = out.diagnostics
        self.handle.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._count += 1


class SdScriptsJsonSink(_StagedFile):
    """sd-scripts fine-tuning metadata: ``{key: {"caption": caption, ...}}``, streamed.

    When the source was sd-scripts metadata its other fields are kept; the checked text
    was ``caption + ", " + tags``, so the new caption replaces both (``column`` names one
    field instead)."""

    def __init__(self, path: Path, *, column: str | None = None) -> None:
        super().__init__(path)
        self.column = column
        self.handle.write("{")

    def write(self, out: Output) -> None:
        extra = out.record.extra
        value: dict[str, Any] = dict(extra) if isinstance(extra, dict) else {}
        if self.column is not None:
            value[self.column] = out.text
        else:
            value.pop("tags", None)
            value["caption"] = out.text
        sep = "," if self._count else ""
        key = json.dumps(out.record.id, ensure_ascii=False)
        self.handle.write(f"{sep}\n  {key}: {json.dumps(value, ensure_ascii=False)}")
        self._count += 1

    def _finish(self) -> None:
        self.handle.write("\n}\n")


class CaptionsJsonSink(_StagedFile):
    """diffusion-pipe ``captions.json``: ``{"img.png": ["caption", ...]}``, streamed (the
    captions of one image arrive together)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.handle.write("{")
        self._key: str | None = None
        self._captions: list[str] = []
        self._keys = 0

    def write(self, out: Output) -> None:
        ident = out.record.id
        key = (
            ident.rpartition("#")[0]
            if isinstance(out.record.extra, int) and "#" in ident
            else ident
        )
        if key != self._key:
            self._flush()
            self._key = key
        self._captions.append(out.text)
        self._count += 1

    def _flush(self) -> None:
        if self._key is None:
            return
        sep = "," if self._keys else ""
        key = json.dumps(self._key, ensure_ascii=False)
        self.handle.write(f"{sep}\n  {key}: {json.dumps(self._captions, ensure_ascii=False)}")
        self._keys += 1
        self._captions = []

    def _finish(self) -> None:
        self._flush()
        self.handle.write("\n}\n")


class ParquetSink(Sink):
    """A parquet file: ``id``, ``caption``, and ``diagnostics`` / ``changes`` columns
    (lists of structs) plus their counts, written a row group at a time."""

    def __init__(
        self,
        path: Path,
        *,
        id_key: str = "id",
        caption_key: str = "caption",
        diagnostics: bool = False,
        changes: bool = False,
    ) -> None:
        from anima_caption.datasets._arrow import changes_type, diagnostics_type, pyarrow

        pa = pyarrow()
        self.staged = _StagedFile(path, binary=True)
        self.path = path
        fields = [(id_key, pa.string()), (caption_key, pa.string())]
        if diagnostics:
            fields += [
                ("diagnostics", diagnostics_type()),
                ("errors", pa.int32()),
                ("warnings", pa.int32()),
            ]
        if changes:
            fields += [("changes", changes_type()), ("changed", pa.bool_())]
        self.schema = pa.schema(fields)
        self.with_diagnostics = diagnostics
        self.with_changes = changes
        self._rows: list[Output] = []
        self._writer: Any = None
        self._count = 0

    def write(self, out: Output) -> None:
        self._rows.append(out)
        self._count += 1
        if len(self._rows) >= PARQUET_BATCH:
            self._flush()

    def _flush(self) -> None:
        from anima_caption.datasets._arrow import pyarrow

        pa = pyarrow()
        import pyarrow.parquet as pq

        rows = self._rows
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.staged.handle, self.schema)
        columns: list[Any] = [[o.record.id for o in rows], [o.text for o in rows]]
        if self.with_diagnostics:
            found = [o.diagnostics or [] for o in rows]
            columns += [
                found,
                [sum(1 for d in ds if d["severity"] == "error") for ds in found],
                [sum(1 for d in ds if d["severity"] == "warning") for ds in found],
            ]
        if self.with_changes:
            columns += [
                [o.changes or [] for o in rows],
                [o.text != o.record.text if o.changed is None else o.changed for o in rows],
            ]
        arrays = []
        for values, spec in zip(columns, self.schema, strict=True):
            if spec.name == "changes":
                arrays.append(_struct_lists(pa, values, spec.type))
            else:
                arrays.append(pa.array(values, spec.type))
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self._writer.write_table(table)
        self._rows = []

    def close(self, *, ok: bool = True) -> None:
        try:
            if ok:
                if self._rows or self._writer is None:
                    self._flush()
                self._writer.close()
        finally:
            self.staged.close(ok=ok)


def _struct_lists(pa: Any, values: list[list[dict[str, Any]]], kind: Any) -> Any:
    """``pa.array(values, kind)`` for a list of structs, built from flat columns (several
    times faster than converting a dictionary per struct: a Danbooru post has ~20 changes)."""
    fields = [kind.value_type.field(i) for i in range(kind.value_type.num_fields)]
    offsets = [0]
    total = 0
    for items in values:
        total += len(items)
        offsets.append(total)
    flat = [item for items in values for item in items]
    children = [pa.array([item[f.name] for item in flat], f.type) for f in fields]
    structs = pa.StructArray.from_arrays(children, fields=fields)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), structs, type=kind)


class FolderSink(Sink):
    """``.txt`` caption files under ``root`` (``img001.png`` → ``img001.txt``), written
    atomically through the backup journal of ``root`` (``anima-caption undo ROOT``)."""

    def __init__(self, root: Path, *, command: str, extension: str = ".txt") -> None:
        from anima_caption._journal import WriteRun

        if root.exists() and not root.is_dir():
            raise UsageError(f"{root}: not a folder")
        root.mkdir(parents=True, exist_ok=True)
        self.path = root
        self.extension = extension
        self.run = WriteRun(root, command)
        self.run.open()
        self._pending: list[tuple[Path, bytes, bytes | None]] = []
        self._count = 0
        self.refused: list[str] = []

    def target(self, record: Record) -> Path:
        """Where a record's caption file goes; a usage error for an unsafe id."""
        safe = safe_member_name(record.id)
        if safe is None:
            raise UsageError(f"{record.where}: id {record.id!r} is not a safe file name")
        base = safe.rpartition("/")[2]
        stem = base.rpartition(".")[0] if "." in base else base
        folder = safe.rpartition("/")[0]
        relative = f"{folder}/{stem}" if folder else stem
        return self.path / f"{relative}{self.extension}"

    def write(self, out: Output) -> None:
        from anima_caption._io import encode_caption
        from anima_caption._journal import BATCH

        target = self.target(out.record)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            original: bytes | None = target.read_bytes()
        except FileNotFoundError:
            original = None
        data = encode_caption(out.text)
        self._count += 1
        if data == original:
            return
        self._pending.append((target, data, original))
        if len(self._pending) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        self.refused.extend(str(r) for r in self.run.write_many(self._pending))
        self._pending = []

    def close(self, *, ok: bool = True) -> None:
        try:
            if self._pending:
                self._flush()
        finally:
            self.run.close("ok" if ok else "failed")


def open_sink(
    out: str | Path,
    *,
    command: str,
    sources: Sequence[Path] = (),
    fmt: str | None = None,
    column: str | None = None,
    id_column: str | None = None,
    diagnostics: bool = False,
    changes: bool = False,
) -> Sink:
    """The sink for ``--out``: by ``fmt`` or by the name (``*.parquet``, ``*.jsonl``,
    ``captions.json``, other ``*.json``: sd-scripts metadata; anything else a folder)."""
    path = Path(out)
    resolved = path.resolve()
    for source in sources:
        if source.resolve() == resolved:
            raise UsageError(f"--out {out} is the dataset being read; choose another name")
    name = path.name.lower()
    if fmt is None:
        if name.endswith(".parquet"):
            fmt = "parquet"
        elif name.endswith((".jsonl", ".ndjson")):
            fmt = "jsonl"
        elif name == "captions.json":
            fmt = "captions-json"
        elif name.endswith(".json"):
            fmt = "sd-scripts"
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            raise UsageError(f"--out {out}: tar shards are read-only; write parquet or JSON lines")
        else:
            fmt = "folder"
    if fmt == "parquet":
        return ParquetSink(
            path,
            id_key=id_column or "id",
            caption_key=column or "caption",
            diagnostics=diagnostics,
            changes=changes,
        )
    if fmt == "jsonl":
        return JsonLinesSink(path, id_key=id_column or "file_name", caption_key=column or "text")
    if fmt == "captions-json":
        return CaptionsJsonSink(path)
    if fmt == "sd-scripts":
        return SdScriptsJsonSink(path, column=column)
    if fmt == "folder":
        for source in sources:
            src = source.resolve()
            folder = src if source.is_dir() else src.parent
            if source.is_dir() and (resolved == folder or folder in resolved.parents):
                raise UsageError(f"--out {out} is inside the dataset {source}; choose another")
        return FolderSink(path, command=command)
    raise UsageError(f"unknown output format {fmt!r}")
