"""Dataset sources: where captions live, read as one stream of :class:`Record` objects.

Every source yields records in a stable order and, for sharded runs, in *units* (a caption
file, a parquet row group, a block of JSON lines, a tar file) that a
:class:`ShardFilter` hands out round-robin, so ``--num-shards N --shard-index I`` runs
read only their own units where the format allows it. A dataset is untrusted input:
records are size-limited, tar members are never extracted (their names are checked, only
regular files are read), and a malformed row becomes a record with an ``error`` (reported
like an undecodable file) instead of stopping the run.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from anima_caption._errors import AnimaCaptionError, CaptionDecodeError, UsageError
from anima_caption._io import MAX_CAPTION_BYTES, decode_caption, read_caption_file, walk_dataset

#: Caption columns / keys tried, in order, when none is named.
CAPTION_KEYS = ("caption", "text", "tags", "prompt")
#: Id columns / keys tried, in order, when none is named.
ID_KEYS = ("file_name", "image_key", "image", "file", "path", "key", "id", "md5")
#: The columns that make a table Danbooru post metadata.
DANBOORU_COLUMNS = ("tag_string_general", "tag_string_character", "tag_string_copyright")
#: JSON lines per shard unit.
LINES_PER_UNIT = 4096
#: A JSON or JSON-lines metadata file larger than this is refused (JSON is read whole).
MAX_JSON_BYTES = 4 << 30
#: Caption files in a tar shard are read; members other than these are skipped.
TAR_CAPTION_EXTENSIONS = (".txt", ".caption", ".json")


class DatasetError(AnimaCaptionError):
    """A dataset file that cannot be read (exit code 1); the message names the file."""


class Record(NamedTuple):
    """One caption of a dataset.

    ``id`` names it within its source (a file name, an image key, a row number);
    ``where`` points a person at it (``meta.jsonl:12``, ``data.parquet row 5``). ``error``
    says why the caption could not be read (``text`` is then empty).
    """

    id: str
    text: str
    where: str
    error: str | None = None
    extra: Any = None
    """What a sink of the same format needs to write the record back (sd-scripts
    ``tags``, a captions.json list index…)."""


class ShardFilter:
    """Hands out units round-robin: unit ``k`` (over all sources, in order) belongs to
    shard ``k % num_shards``. One filter is shared by every source of a run."""

    def __init__(self, num_shards: int = 1, shard_index: int = 0) -> None:
        if num_shards < 1:
            raise UsageError(f"--num-shards must be at least 1, not {num_shards}")
        if not 0 <= shard_index < num_shards:
            raise UsageError(
                f"--shard-index must be in 0..{num_shards - 1} for {num_shards} shards, "
                f"not {shard_index}"
            )
        self.num_shards = num_shards
        self.shard_index = shard_index
        self._next = 0

    def take(self) -> bool:
        """Whether the next unit is this shard's."""
        mine = self._next % self.num_shards == self.shard_index
        self._next += 1
        return mine


_ALL = ShardFilter()


@dataclass
class Source:
    """Base of every source: a file or folder, and how its records are named."""

    path: Path
    kind: ClassVar[str] = "source"
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.path.as_posix()

    def records(self, shard: ShardFilter | None = None) -> Iterator[Record]:
        """The captions, in order (only ``shard``'s units when given)."""
        raise NotImplementedError

    def display(self, record: Record) -> str:
        """How output names a record: ``data.parquet[img001.png]``."""
        return f"{self.name}[{record.id}]"

    def images(self) -> list[Path]:
        """Image files beside the captions (folders only: for the image-pairing rules)."""
        return []


# -- folders ---------------------------------------------------------------------------------


@dataclass
class FolderSource(Source):
    """Today's layout: caption files (``.txt``) beside the images, in a folder tree."""

    extensions: tuple[str, ...] = (".txt",)
    image_extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
    kind: ClassVar[str] = "folder"

    def files(self) -> Iterator[Path]:
        """The caption files, by the one dataset walk every command uses."""
        wanted = tuple(e.lower() for e in self.extensions)
        if self.path.is_file():
            yield self.path
            return
        for file in walk_dataset(self.path):
            if file.name.lower().endswith(wanted):
                yield file

    def records(self, shard: ShardFilter | None = None) -> Iterator[Record]:
        shard = shard or _ALL
        root = self.path if self.path.is_dir() else self.path.parent
        for file in self.files():
            if not shard.take():
                continue
            rel = file.relative_to(root).as_posix()
            try:
                text = read_caption_file(file).text
            except CaptionDecodeError as error:
                yield Record(rel, "", file.as_posix(), error.message)
                continue
            yield Record(rel, text, file.as_posix())

    def display(self, record: Record) -> str:
        return record.where

    def images(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        wanted = tuple(e.lower() for e in self.image_extensions)
        return [f for f in walk_dataset(self.path) if f.name.lower().endswith(wanted)]


# -- JSON ------------------------------------------------------------------------------------


def _caption_value(value: object, where: str, key: str) -> tuple[str, str | None]:
    """A caption field's text, or ``("", why not)``."""
    if value is None:
        return "", None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ", ".join(value)  # a list of tags
    if not isinstance(value, str):
        return "", f"{key!r} is {type(value).__name__}, not text"
    if len(value) > MAX_CAPTION_BYTES:
        return "", f"caption is {len(value):,} characters; over {MAX_CAPTION_BYTES:,} is refused"
    return value, None


def _pick(keys: Sequence[str], wanted: str | None, candidates: Sequence[str]) -> str | None:
    if wanted is not None:
        return wanted
    return next((k for k in candidates if k in keys), None)


@dataclass
class JsonLinesSource(Source):
    """One JSON object per line: Hugging Face ``metadata.jsonl`` (``file_name`` + ``text``),
    sd-scripts style JSON lines, Danbooru's own post dumps. ``column`` / ``id_column`` name
    the fields (default: the first of :data:`CAPTION_KEYS` / :data:`ID_KEYS` in the first
    object)."""

    column: str | None = None
    id_column: str | None = None
    kind: ClassVar[str] = "jsonl"

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        try:
            handle = self.path.open("rb")
        except OSError as error:
            raise DatasetError(f"{self.name}: cannot read: {error.strerror or error}") from None
        with handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield number, line

    def objects(self, shard: ShardFilter | None = None) -> Iterator[tuple[int, Any, str | None]]:
        """``(line number, object or None, error)`` for each non-blank line."""
        shard = shard or _ALL
        block = -1
        mine = False
        for number, line in self._lines():
            if (number - 1) // LINES_PER_UNIT != block:
                block = (number - 1) // LINES_PER_UNIT
                mine = shard.take()
            if not mine:
                continue
            if len(line) > MAX_CAPTION_BYTES * 4:
                yield number, None, f"line is {len(line):,} bytes; refused"
                continue
            try:
                obj = json.loads(line)
            except (UnicodeDecodeError, ValueError) as error:
                yield number, None, f"invalid JSON: {error}"
                continue
            if not isinstance(obj, dict):
                yield number, None, f"a JSON {type(obj).__name__}, not an object"
                continue
            yield number, obj, None

    def records(self, shard: ShardFilter | None = None) -> Iterator[Record]:
        column = self.column
        id_column = self.id_column
        for number, obj, error in self.objects(shard):
            where = f"{self.name}:{number}"
            if obj is None:
                yield Record(f"line {number}", "", where, error)
                continue
            if column is None:
                column = _pick(list(obj), None, CAPTION_KEYS)
                if column is None:
                    raise UsageError(
                        f"{where}: no caption field (looked for {', '.join(CAPTION_KEYS)}; "
                        f"the object has {', '.join(obj) or 'none'}); name it with --column"
                    )
            if id_column is None:
                id_column = _pick(list(obj), None, ID_KEYS) or ""
            yield _json_record(obj, column, id_column, str(number), where)


def _json_record(
    obj: dict[str, Any], column: str, id_column: str, fallback: str, where: str
) -> Record:
    ident = obj.get(id_column) if id_column else None
    ident = fallback if ident is None else str(ident)
    if column not in obj:
        return Record(ident, "", where, f"no {column!r} field")
    text, error = _caption_value(obj[column], where, column)
    return Record(ident, text, where, error)


@dataclass
class MetadataJsonSource(Source):
    """One JSON document mapping image keys to captions.

    * sd-scripts fine-tuning metadata: ``{"img": {"caption": "...", "tags": "..."}}``. The
      trainer reads ``caption + ", " + tags`` (either alone when the other is missing):
      that is the text checked, unless ``column`` names one field.
    * diffusion-pipe ``captions.json``: ``{"img.png": "caption"}`` or ``{"img.png":
      ["caption 1", "caption 2"]}`` (one record per caption: ``img.png#1``…).
    * a JSON list of objects (``[{"file_name": ..., "text": ...}]``), read like JSON lines.
    """

    column: str | None = None
    id_column: str | None = None
    kind: ClassVar[str] = "json"
    shape: str = field(default="", init=False)
    """``sd-scripts``, ``captions`` or ``list`` once read."""

    def load(self) -> Any:
        """The whole document (JSON is not streamable; bounded by :data:`MAX_JSON_BYTES`)."""
        try:
            size = self.path.stat().st_size
            if size > MAX_JSON_BYTES:
                raise DatasetError(f"{self.name}: {size:,} bytes; a JSON file this big is refused")
            data = self.path.read_bytes()
        except OSError as error:
            raise DatasetError(f"{self.name}: cannot read: {error.strerror or error}") from None
        try:
            doc = json.loads(data)
        except UnicodeDecodeError as error:
            raise DatasetError(f"{self.name}: not UTF-8 (byte {error.start})") from None
        except json.JSONDecodeError as error:
            raise DatasetError(
                f"{self.name}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}"
            ) from None
        if isinstance(doc, list):
            self.shape = "list"
        elif isinstance(doc, dict):
            values = [v for v in doc.values() if v is not None]
            self.shape = "sd-scripts" if values and isinstance(values[0], dict) else "captions"
        else:
            raise DatasetError(f"{self.name}: a JSON {type(doc).__name__}, not an object or list")
        return doc

    def records(self, shard: ShardFilter | None = None) -> Iterator[Record]:
        shard = shard or _ALL
        doc = self.load()
        if not shard.take():  # one document is one unit
            return
        if self.shape == "list":
            yield from self._list_records(doc)
            return
        for key, value in doc.items():
            where = f"{self.name}[{key}]"
            if self.shape == "captions":
                yield from self._caption_records(str(key), value, where)
            else:
                yield self._sd_record(str(key), value, where)

    def _list_records(self, doc: list[Any]) -> Iterator[Record]:
        column = self.column
        id_column = self.id_column
        for number, obj in enumerate(doc):
            where = f"{self.name} item {number}"
            if not isinstance(obj, dict):
                yield Record(str(number), "", where, f"a JSON {type(obj).__name__}, not an object")
                continue
            if column is None:
                column = _pick(list(obj), None, CAPTION_KEYS)
                if column is None:
                    raise UsageError(
                        f"{where}: no caption field (looked for {', '.join(CAPTION_KEYS)}); "
                        "name it with --column"
                    )
            if id_column is None:
                id_column = _pick(list(obj), None, ID_KEYS) or ""
            yield _json_record(obj, column, id_column, str(number), where)

    def _caption_records(self, key: str, value: object, where: str) -> Iterator[Record]:
        if isinstance(value, list):
            for index, item in enumerate(value):
                ident = key if len(value) == 1 else f"{key}#{index}"
                text, error = _caption_value(item, where, key)
                yield Record(ident, text, f"{where} caption {index}", error, extra=index)
            return
        text, error = _caption_value(value, where, key)
        yield Record(key, text, where, error)

    def _sd_record(self, key: str, value: object, where: str) -> Record:
        if not isinstance(value, dict):
            return Record(key, "", where, f"a JSON {type(value).__name__}, not an object")
        if self.column is not None:
            if self.column not in value:
                return Record(key, "", where, f"no {self.column!r} field", extra=value)
            text, error = _caption_value(value[self.column], where, self.column)
            return Record(key, text, where, error, extra=value)
        caption, error = _caption_value(value.get("caption"), where, "caption")
        tags, tags_error = _caption_value(value.get("tags"), where, "tags")
        text = f"{caption}, {tags}" if caption and tags else caption or tags
        return Record(key, text, where, error or tags_error, extra=value)


# -- parquet ---------------------------------------------------------------------------------


@dataclass
class ParquetSource(Source):
    """A parquet file with a caption column (Hugging Face datasets, exports of anything).
    Read a row group at a time, only the columns needed."""

    column: str | None = None
    id_column: str | None = None
    kind: ClassVar[str] = "parquet"

    def open(self) -> Any:
        """The ``pyarrow.parquet.ParquetFile``."""
        from anima_caption.datasets._arrow import pyarrow

        pyarrow()
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except OSError as error:
            raise DatasetError(f"{self.name}: cannot read as parquet: {error}") from None
        except Exception as error:  # pyarrow raises ArrowInvalid (a ValueError) and others
            raise DatasetError(f"{self.name}: not a parquet file ({error})") from None

    def schema_names(self) -> list[str]:
        """The file's column names."""
        return list(self.open().schema_arrow.names)

    def _columns(self, names: list[str]) -> tuple[str, str | None]:
        column = _pick(names, self.column, CAPTION_KEYS)
        if column is None or column not in names:
            what = f"no column {self.column!r}" if self.column else "no caption column"
            raise UsageError(
                f"{self.name}: {what} (columns: {', '.join(names)}); name it with --column"
            )
        id_column = _pick(names, self.id_column, ID_KEYS)
        if id_column is not None and id_column not in names:
            raise UsageError(
                f"{self.name}: no id column {id_column!r} (columns: {', '.join(names)})"
            )
        return column, id_column

    def batches(
        self, columns: list[str], shard: ShardFilter | None = None
    ) -> Iterator[tuple[int, dict[str, list[Any]]]]:
        """``(first row number, {column: values})`` per row group of this shard."""
        shard = shard or _ALL
        file = self.open()
        first = 0
        for group in range(file.num_row_groups):
            rows = file.metadata.row_group(group).num_rows
            if shard.take():
                try:
                    table = file.read_row_group(group, columns=columns)
                except Exception as error:
                    raise DatasetError(
                        f"{self.name}: row group {group} (rows {first}-{first + rows - 1}) "
                        f"cannot be read: {error}"
                    ) from None
                yield first, {name: table.column(name).to_pylist() for name in columns}
            first += rows

    def records(self, shard: ShardFilter | None = None) -> Iterator[Record]:
        names = self.schema_names()
        column, id_column = self._columns(names)
        wanted = [column] if id_column is None else [column, id_column]
        for first, data in self.batches(wanted, shard):
            ids = data[id_column] if id_column is not None else None
            for offset, value in enumerate(data[column]):
                row = first + offset
                ident = str(row) if ids is None or ids[offset] is None else str(ids[offset])
                where = f"{self.name} row {row}"
                text, error = _caption_value(value, where, column)
                yield Record(ident, text, where, error)


# -- Danbooru post metadata ------------------------------------------------------------------


@dataclass
class DanbooruSource(Source):
    """Danbooru post metadata (parquet, or JSON lines as Danbooru's API and dumps give):
    an Anima caption is built from the category columns (see
    :class:`anima_caption.datasets.DanbooruCaptioner`); no tag database is needed."""

    id_column: str | None = None
    prefix: str | Sequence[str] = ()
    keep_meta: bool = False
    kind: ClassVar[str] = "danbooru"

    def __post_init__(self) -> None:
        super().__post_init__()
        from anima_caption.datasets._danbooru import DanbooruCaptioner

        self.captioner = DanbooruCaptioner(prefix=self.prefix, keep_meta=self.keep_meta)

    def rows(self, shard: ShardFilter | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(id, where, row)`` per post (rows with the Danbooru columns only)."""
        from anima_caption.datasets._danbooru import COLUMNS

        if self.path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            lines = JsonLinesSource(self.path)
            for number, obj, error in lines.objects(shard):
                where = f"{self.name}:{number}"
                if obj is None:
                    yield f"line {number}", where, {"__error__": error}
                    continue
                ident = obj.get(self.id_column or "id", obj.get("md5", number))
                yield str(ident), where, obj
            return
        parquet = ParquetSource(self.path)
        names = parquet.schema_names()
        missing = [c for c in DANBOORU_COLUMNS if c not in names]
        if missing:
            raise UsageError(
                f"{self.name}: not Danbooru post metadata: no column {missing[0]!r} "
                f"(columns: {', '.join(names)})"
            )
        id_column = _pick(names, self.id_column, ("id", "md5", *ID_KEYS))
        if id_column is not None and id_column not in names:
            raise UsageError(
                f"{self.name}: no id column {id_column!r} (columns: {', '.join(names)})"
            )
        wanted = [c for c in COLUMNS if c in names]
        if id_column is not None and id_column not in wanted:
            wanted.append(id_column)
        for first, data in parquet.batches(wanted, shard):
            count = len(data[wanted[0]])
            for offset in range(count):
                row = {name: data[name][offset] for name in wanted}
                ident = row.get(id_column) if id_column else None
                yield (
                    str(first + offset) if ident is None else str(ident),
                    f"{self.name} row {first + offset}",
                    row,
                )

    def records(self, shard: ShardFilter | None = None) -> Iterator[Record]:
        build = self.captioner.caption
        for ident, where, row in self.rows(shard):
            error = row.get("__error__")
            if error is not None:
                yield Record(ident, "", where, error)
                continue
            try:
                text, done = build(row)
            except ValueError as failure:
                yield Record(ident, "", where, str(failure))
                continue
            yield Record(ident, text, where, extra=done)


# -- WebDataset tar shards -------------------------------------------------------------------


def safe_member_name(name: str) -> str | None:
    """A tar member's name as a relative POSIX path, or None when it is unsafe (absolute,
    ``..``, a drive, a backslash, control characters)."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or ":" in name.split("/")[0]:
        return None
    if any(ord(c) < 32 for c in name):
        return None
    normal = posixpath.normpath(name)
    if normal.startswith("..") or normal == "." or "/../" in f"/{normal}/":
        return None
    return normal


def webdataset_key(name: str) -> tuple[str, str]:
    """``(key, extension)`` as WebDataset splits a member name: the key runs to the first
    dot of the file name (``dir/0001.cls.txt`` → ``dir/0001``, ``cls.txt``)."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    key = f"{folder}/{stem}" if folder else stem
    return key, ext if dot else ""


@dataclass
class WebDatasetSource(Source):
    """WebDataset tar shards (``key.jpg`` + ``key.txt`` or ``key.json``): read-only, never
    rewritten. Members are streamed, never extracted; only regular files with a safe name
    and at most :data:`~anima_caption._io.MAX_CAPTION_BYTES` are read, the rest reported."""

    column: str | None = None
    kind: ClassVar[str] = "webdataset"

    def records(self, shard: ShardFilter | None = None) -> Iterator[Record]:
        shard = shard or _ALL
        if not shard.take():  # a tar file is one unit
            return
        try:
            archive = tarfile.open(self.path, mode="r|*")  # noqa: SIM115 - closed below
        except (OSError, tarfile.TarError) as error:
            raise DatasetError(f"{self.name}: not a readable tar file ({error})") from None
        try:
            yield from self._members(archive)
        except (OSError, tarfile.TarError, EOFError) as error:
            raise DatasetError(f"{self.name}: damaged tar file ({error})") from None
        finally:
            archive.close()

    def _members(self, archive: tarfile.TarFile) -> Iterator[Record]:
        seen: set[str] = set()
        for member in archive:
            name = member.name
            lower = name.lower()
            if not lower.endswith(TAR_CAPTION_EXTENSIONS) or member.isdir():
                continue
            where = f"{self.name}:{name}"
            safe = safe_member_name(name)
            key, ext = webdataset_key(safe or name)
            if safe is None:
                yield Record(key, "", where, "unsafe member name (absolute or '..'); not read")
                continue
            if not member.isfile():
                yield Record(key, "", where, "not a regular file (link or device); not read")
                continue
            if member.size > MAX_CAPTION_BYTES:
                yield Record(
                    key,
                    "",
                    where,
                    f"member is {member.size:,} bytes; a caption over {MAX_CAPTION_BYTES:,} "
                    "bytes is refused",
                )
                continue
            if ext.lower() == "json" and key in seen:
                continue  # key.txt came first and is the caption
            handle = archive.extractfile(member)
            data = handle.read(MAX_CAPTION_BYTES + 1) if handle is not None else b""
            seen.add(key)
            if ext.lower() == "json":
                yield self._json_member(key, data, where)
                continue
            try:
                text = decode_caption(data, Path(safe)).text
            except CaptionDecodeError as error:
                yield Record(key, "", where, error.message)
                continue
            yield Record(key, text, where)

    def _json_member(self, key: str, data: bytes, where: str) -> Record:
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, ValueError) as error:
            return Record(key, "", where, f"invalid JSON: {error}")
        if not isinstance(obj, dict):
            return Record(key, "", where, f"a JSON {type(obj).__name__}, not an object")
        column = _pick(list(obj), self.column, CAPTION_KEYS)
        if column is None:
            return Record(key, "", where, f"no caption field ({', '.join(CAPTION_KEYS)})")
        return _json_record(obj, column, "", key, where)._replace(id=key)


# -- choosing a source -----------------------------------------------------------------------

#: ``--input`` values.
FORMATS = ("auto", "folder", "jsonl", "json", "parquet", "danbooru", "webdataset")


def is_dataset_file(path: str | Path) -> bool:
    """Whether ``path`` names a dataset file (not a caption file or folder)."""
    name = str(path).lower()
    return name.endswith((".parquet", ".jsonl", ".ndjson", ".json", ".tar", ".tar.gz", ".tgz"))


def open_source(
    path: str | Path,
    *,
    fmt: str = "auto",
    column: str | None = None,
    id_column: str | None = None,
    extensions: tuple[str, ...] = (".txt",),
    prefix: str | Sequence[str] = (),
) -> Source:
    """The source for ``path``: by ``fmt``, else by its name and (parquet) its columns.

    A parquet file with Danbooru's ``tag_string_*`` columns and no ``column`` named is
    read as Danbooru post metadata.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise UsageError(f"unknown dataset format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    name = path.name.lower()
    if fmt == "auto":
        if path.is_dir() or not is_dataset_file(path):
            fmt = "folder"
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            fmt = "webdataset"
        elif name.endswith((".jsonl", ".ndjson")):
            fmt = "jsonl"
        elif name.endswith(".json"):
            fmt = "json"
        else:
            fmt = "parquet"
            if column is None:
                names = ParquetSource(path).schema_names()
                if all(c in names for c in DANBOORU_COLUMNS):
                    fmt = "danbooru"
    if fmt == "folder":
        return FolderSource(path, extensions=extensions)
    if fmt == "jsonl":
        return JsonLinesSource(path, column=column, id_column=id_column)
    if fmt == "json":
        return MetadataJsonSource(path, column=column, id_column=id_column)
    if fmt == "parquet":
        return ParquetSource(path, column=column, id_column=id_column)
    if fmt == "danbooru":
        return DanbooruSource(path, id_column=id_column, prefix=prefix)
    return WebDatasetSource(path, column=column)
