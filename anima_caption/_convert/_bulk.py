"""Running a caption transformation over files: dry run with a diff, ``--write`` through the
journal, or ``--out`` into a mirror of the dataset. Shared by ``convert`` and ``edit``.

Files that cannot be decoded or parsed are reported (one line each, naming the file) and
left untouched; a file that changed on disk between read and write is not overwritten.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from anima_caption._errors import AnimaCaptionError, CaptionDecodeError, UsageError
from anima_caption._io import encode_caption, read_caption_file, unified_diff, walk_dataset

if TYPE_CHECKING:
    from anima_caption._journal import WriteRun

#: transform(text, path) -> (new text, rule names of the changes)
Transform = Callable[[str, Path], tuple[str, Sequence[str]]]


@dataclass
class BulkReport:
    """What a bulk run did."""

    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    by_rule: Counter[str] = field(default_factory=Counter)
    written: int = 0
    run_ids: list[str] = field(default_factory=list)


def dataset_files(paths: Sequence[str], extensions: tuple[str, ...]) -> Iterator[tuple[Path, Path]]:
    """``(root, caption file)`` for every caption file under ``paths``; ``root`` is the
    folder given (or the folder of a file given): where its journal goes."""
    wanted = tuple(e.lower() for e in extensions)
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in walk_dataset(path):
                if file.name.lower().endswith(wanted) and file not in seen:
                    seen.add(file)
                    yield path, file
        elif path.exists():
            if path not in seen:
                seen.add(path)
                yield path.parent, path
        else:
            raise UsageError(f"{path}: no such file or directory")


def run_bulk(
    paths: Sequence[str],
    transform: Transform,
    *,
    command: str,
    write: bool = False,
    out: Path | None = None,
    diff: bool = True,
    keep_bom: bool = True,
    extensions: tuple[str, ...] = (".txt",),
    link: bool = True,
    notes: Callable[[Path], Sequence[str]] | None = None,
) -> BulkReport:
    """Apply ``transform`` to every caption file under ``paths``.

    ``notes(path)``: lines said about a changed file just before its diff, each as
    ``# PATH:NOTE`` (``patch`` skips lines before the header), e.g. the suggestions
    ``convert --apply-suggestions`` applied, with their reasons.
    """
    from anima_caption._journal import BATCH, WriteRun

    files = list(dataset_files(paths, extensions))
    if not files:
        raise UsageError(f"no caption files ({', '.join(extensions)}) found in the given paths")
    if out is not None:
        _check_out(out, paths)
    report = BulkReport()
    progress = _progress(len(files))
    runs: dict[Path, WriteRun] = {}
    pending: dict[Path, list[tuple[Path, bytes, bytes | None]]] = {}
    stdout = sys.stdout
    try:
        for done, (root, path) in enumerate(files, 1):
            progress(done)
            try:
                source = read_caption_file(path)
            except CaptionDecodeError as error:
                report.failed.append(f"{error} (left untouched)")
                continue
            try:
                new_text, rules = transform(source.text, path)
            except AnimaCaptionError as error:
                report.failed.append(f"{path}: {_one_line(error)} (left untouched)")
                continue
            new_data = encode_caption(new_text, bom=keep_bom and source.bom)
            target = path if out is None else out / path.relative_to(root)
            if new_data == source.data and out is None:
                report.unchanged += 1
                continue
            if new_data == source.data:
                report.unchanged += 1
            else:
                report.changed += 1
                report.by_rule.update(rules)
                if diff:
                    for note in notes(path) if notes is not None else ():
                        stdout.write(f"# {path}:{note}\n")
                    stdout.write(
                        unified_diff(
                            str(path),
                            source.text,
                            new_text,
                            bom_removed=source.bom and not new_data.startswith(b"\xef\xbb\xbf"),
                        )
                    )
            if not (write or out is not None):
                continue
            journal_root = root if out is None else out
            run = runs.get(journal_root)
            if run is None:
                journal_root.mkdir(parents=True, exist_ok=True)
                run = WriteRun(journal_root, command)
                run.open()
                runs[journal_root] = run
            if out is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
            original = source.data if out is None else _existing(target)
            if original == new_data:
                continue
            batch = pending.setdefault(journal_root, [])
            batch.append((target, new_data, original))
            if len(batch) >= BATCH:
                _flush(run, batch, report)
        for journal_root, batch in pending.items():
            _flush(runs[journal_root], batch, report)
        pending.clear()
        if out is not None:
            _mirror_other_files(paths, out, extensions, link=link)
    finally:
        for journal_root, batch in pending.items():  # an error ended the loop
            _flush(runs[journal_root], batch, report)
        for run in runs.values():
            if run.files_written:
                report.run_ids.append(run.run_id)
            run.close()
        progress(-1)
    return report


def _flush(
    run: WriteRun, batch: list[tuple[Path, bytes, bytes | None]], report: BulkReport
) -> None:
    """Write a batch: backups flushed to disk once, then each file replaced atomically."""
    before = len(run.files_written)
    for refused in run.write_many(batch):
        report.failed.append(str(refused))
    report.written += len(run.files_written) - before
    batch.clear()


def _existing(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _check_out(out: Path, paths: Sequence[str]) -> None:
    resolved = out.resolve()
    for raw in paths:
        source = Path(raw).resolve()
        source_dir = source if source.is_dir() else source.parent
        if resolved == source_dir or source_dir in resolved.parents:
            raise UsageError(f"--out {out} is inside the dataset {raw}; choose a folder outside it")
        if resolved in source_dir.parents:
            raise UsageError(f"--out {out} contains the dataset {raw}; choose another folder")


def _mirror_other_files(
    paths: Sequence[str], out: Path, extensions: tuple[str, ...], *, link: bool
) -> None:
    """Images and other sidecar files beside the captions: hard-linked (copied when links
    are not possible) into ``out``; existing files there are left alone."""
    wanted = tuple(e.lower() for e in extensions)
    for raw in paths:
        root = Path(raw)
        if not root.is_dir():
            continue
        for file in walk_dataset(root):
            if file.name.lower().endswith(wanted):
                continue
            target = out / file.relative_to(root)
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if link:
                try:
                    os.link(file, target)
                    continue
                except OSError:
                    pass
            shutil.copy2(file, target)


def _one_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _progress(total: int) -> Callable[[int], None]:
    from anima_caption._progress import progress_bar

    show = progress_bar("file", minimum=500)
    if show is None:
        return lambda done: None
    return lambda done: show(done, total)
