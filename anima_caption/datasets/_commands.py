"""Dataset sources for the commands that read a dataset besides ``check`` and ``convert``:
``policy report``, ``report`` (HTML) and ``train``.

Each builds what the command already works on from a source's records, so a parquet
file, JSON lines or a tar shard is read like a folder:

* ``policy report`` — one :class:`~anima_caption._policy._dataset.PolicyCaption` per
  record (the folder is the id's folder: ``sub/img.png`` → ``sub``);
* ``report`` — one review row per record, with the image beside the dataset file when
  the id names one (``metadata.jsonl`` + ``file_name``), diagnostics from the same checker
  ``check`` runs, dataset rules included;
* ``train`` — images in the dataset file's folder paired with the records by file stem;
  the captions come from the records and are written beside linked images in
  ``--out`` (the trainers read ``.txt`` files).

A record that cannot be read is reported like an undecodable caption file.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from anima_caption._errors import CaptionDecodeError
from anima_caption._io import decode_caption

if TYPE_CHECKING:
    from anima_caption._check._engine import Checker
    from anima_caption._io import CaptionFile
    from anima_caption._policy._dataset import PolicyDataset
    from anima_caption._review._dataset import ReviewSet
    from anima_caption.datasets._sources import Record, Source
    from anima_caption.training._scan import DatasetScan

#: Image files looked for beside a dataset file, by a record's id stem.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def record_file(record: Record, path: Path) -> CaptionFile:
    """A record's caption as a caption file holding its text would be read."""
    return decode_caption(record.text.encode("utf-8", "surrogatepass"), path)


def caption_path(source: Source, record: Record, extension: str = ".txt") -> Path:
    """Where the record's caption would be as a file: the id's stem + ``extension``
    beside the dataset file (``img001.png`` → ``img001.txt``)."""
    ident = PurePosixPath(record.id.replace("\\", "/"))
    stem = ident.with_suffix("") if ident.suffix.lower() in IMAGE_EXTENSIONS else ident
    return source.path.parent / f"{stem.as_posix()}{extension}"


def image_of(source: Source, record: Record) -> Path | None:
    """The image a record's id names beside the dataset file, if it is there."""
    base = source.path.parent
    ident = record.id.replace("\\", "/")
    if ".." in PurePosixPath(ident).parts or ident.startswith("/"):
        return None
    direct = base / ident
    if direct.suffix.lower() in IMAGE_EXTENSIONS and direct.is_file():
        return direct
    stem = caption_path(source, record, "")
    for ext in IMAGE_EXTENSIONS:
        candidate = stem.with_name(stem.name + ext)
        if candidate.is_file():
            return candidate
    return None


def _folder(record: Record) -> str:
    parent = PurePosixPath(record.id.replace("\\", "/")).parent.as_posix()
    return "" if parent == "." else parent


# -- policy report ---------------------------------------------------------------------------


def policy_dataset(
    sources: Sequence[Source], *, triggers: Sequence[str] = (), lookup: Any = None
) -> PolicyDataset:
    """The captions of ``sources`` as the policy commands read a folder."""
    from anima_caption._parse import parse
    from anima_caption._policy._dataset import PolicyCaption, PolicyDataset
    from anima_caption.datasets._run import iter_records

    dataset = PolicyDataset(roots=[s.path for s in sources])
    for source, record in iter_records(sources):
        display = source.display(record)
        if record.error is not None:
            dataset.unreadable.append(CaptionDecodeError(display, record.error))
            continue
        path = caption_path(source, record)
        try:
            file = record_file(record, path)
        except CaptionDecodeError as error:
            dataset.unreadable.append(CaptionDecodeError(display, error.message))
            continue
        caption = parse(file.text, lookup=lookup, triggers=triggers)
        dataset.captions.append(PolicyCaption(path, display, _folder(record), file, caption))
    return dataset


# -- report (HTML) ---------------------------------------------------------------------------


def review_set(source: Source, checker: Checker) -> ReviewSet:
    """One review row per record of ``source``, checked (dataset rules included)."""
    from anima_caption._check._api import Linter
    from anima_caption._parse import parse
    from anima_caption._review._dataset import ReviewRow, ReviewSet
    from anima_caption.datasets._run import check_sources

    linter = Linter.from_parts(checker.loaded, checker.db, checker._selection)
    result = check_sources(linter, [source], streamed=False).result
    by_display: dict[str, list[Any]] = {}
    for diagnostic in result.diagnostics:
        by_display.setdefault(diagnostic.path, []).append(diagnostic)
    rows = []
    for record in source.records():
        display = source.display(record)
        row = ReviewRow(
            key=display, caption_path=caption_path(source, record), image=image_of(source, record)
        )
        row.diagnostics = by_display.get(display, [])
        if record.error is not None:
            row.read_error = f"{display}: {record.error}"
        else:
            try:
                row.file = record_file(record, row.caption_path)
            except CaptionDecodeError as error:
                row.read_error = f"{display}: {error.message}"
        if row.file is not None:
            row.caption = parse(
                row.file.text, lookup=checker.lookup, triggers=checker.config.triggers
            )
        rows.append(row)
    return ReviewSet(root=source.path.parent, rows=rows, checker=checker)


# -- train -----------------------------------------------------------------------------------


def scan_source(
    source: Source,
    *,
    triggers: Collection[str] = (),
    lookup: Any = None,
) -> DatasetScan:
    """The images in the dataset file's folder, paired by file stem with the records;
    each caption is the record's text (its path is where the trainer will find it: the
    image's stem + ``.txt``, written into ``--out``)."""
    from anima_caption._io import walk_dataset
    from anima_caption.training._scan import (
        CaptionInfo,
        DatasetScan,
        Folder,
        ImageEntry,
        caption_info,
    )

    root = source.path.parent
    folders: dict[Path, Folder] = {}
    by_stem: dict[Path, ImageEntry] = {}
    for path in walk_dataset(root):
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            image = ImageEntry(path)
            folders.setdefault(path.parent, Folder(path.parent)).images.append(image)
            by_stem.setdefault(path.with_suffix(""), image)
    captions: dict[Path, CaptionInfo] = {}
    orphans: list[Path] = []
    for record in source.records():
        path = caption_path(source, record)
        if record.error is not None:
            captions[path] = CaptionInfo(path, error=record.error)
        else:
            captions[path] = caption_info(record.text, path, triggers=triggers, lookup=lookup)
        paired = by_stem.get(path.with_suffix(""))
        if paired is None:
            orphans.append(path)
        else:
            paired.captions[".txt"] = path
    ordered = [folders[key] for key in sorted(folders)]
    return DatasetScan(root, ordered, captions, sorted(orphans), ".txt")
