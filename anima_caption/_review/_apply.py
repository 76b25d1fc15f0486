"""Applying an edited review sheet: validate each caption, diff, write through the journal.

A row is refused — and its file left untouched — when its file changed after the export
(SHA-256 differs), when the file cannot be decoded, when its path leaves the dataset or
when the new caption does not parse. Everything else becomes a :class:`Change`, shown as a
unified diff and written (with ``--write``) by :class:`anima_caption._journal.WriteRun`,
so ``anima-caption undo DATASET`` puts the old captions back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from anima_caption._review._dataset import strip_final_newline

if TYPE_CHECKING:
    from anima_caption._check._diagnostic import Diagnostic
    from anima_caption._check._engine import Checker
    from anima_caption._review._sheet import SheetRow


@dataclass
class Change:
    """One caption file to rewrite (or create)."""

    row: int
    key: str
    path: Path
    old: bytes | None
    """The bytes on disk when the sheet was applied (None: the file is created)."""
    new: bytes
    old_text: str
    new_text: str
    bom_removed: bool = False
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """Error-severity diagnostics of the new caption."""


@dataclass
class ApplyPlan:
    """What applying a sheet would do."""

    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    refused: list[str] = field(default_factory=list)
    """One line per refused row: why it was not applied."""
    notes: list[str] = field(default_factory=list)
    """Informational lines (empty caption cells, duplicate rows…)."""


def plan_apply(rows: list[SheetRow], root: Path, checker: Checker, *, strict: bool) -> ApplyPlan:
    """Compare every sheet row with the file on disk and validate the edited captions.

    The sheet is untrusted input: a row is only ever applied to a caption file (a caption
    extension) inside ``root``, reached without leaving it through a symbolic link and
    not in a hidden folder; an existing file must be a regular, writable file (never a
    link), and a new one is only created beside an image of the dataset that has no
    caption yet. Everything is decided here, before anything is written.
    """
    from anima_caption._journal import check_relative, dataset_relative

    plan = ApplyPlan()
    extensions = tuple(e.lower() for e in checker.config.caption_extensions if e)
    images = tuple(e.lower() for e in checker.config.image_extensions if e)
    real_root = root.resolve()
    seen: dict[str, str | None] = {}
    for row in rows:
        where = f"row {row.number}" + (f" ({row.key})" if row.key else "")
        if not row.key:
            plan.refused.append(f"{where}: no 'Caption file' value; cannot tell which file it is")
            continue
        problem = check_relative(row.key)
        name = PurePosixPath(row.key).name.lower()
        if problem is None and not (
            extensions and any(name.endswith(e) and len(name) > len(e) for e in extensions)
        ):
            problem = "is not a caption file (" + ", ".join(extensions) + ")"
        if problem is not None:
            plan.refused.append(f"{where}: not a caption file inside the dataset ({problem})")
            continue
        value = row.caption.strip() if row.caption is not None else ""
        if row.key in seen:
            if seen[row.key] != value:
                plan.refused.append(
                    f"{where}: the same caption file appears on an earlier row with a "
                    "different caption; only the first row is used"
                )
            continue
        seen[row.key] = value
        placed = dataset_relative(real_root, real_root.joinpath(*PurePosixPath(row.key).parts))
        if isinstance(placed, str):
            plan.refused.append(f"{where}: {placed}; refused")
            continue
        path = placed[0]
        change = _plan_row(row, where, path, value, plan, checker, images)
        if change is None:
            continue
        if change.diagnostics and strict:
            first = change.diagnostics[0]
            plan.refused.append(
                f"{where}: new caption has {len(change.diagnostics)} error(s), first "
                f"{first.name} {first.line}:{first.column} {first.message} (--strict)"
            )
            continue
        plan.changes.append(change)
    return plan


def _plan_row(
    row: SheetRow,
    where: str,
    path: Path,
    value: str,
    plan: ApplyPlan,
    checker: Checker,
    images: tuple[str, ...],
) -> Change | None:
    from anima_caption._errors import CaptionDecodeError
    from anima_caption._io import MAX_CAPTION_BYTES, decode_caption, encode_caption
    from anima_caption._journal import write_refusal

    problem = write_refusal(path, exists=False)
    if problem is not None:
        plan.refused.append(f"{where}: the caption file {problem}; refused")
        return None
    try:
        if path.stat().st_size > MAX_CAPTION_BYTES:
            plan.refused.append(f"{where}: the caption file is over {MAX_CAPTION_BYTES:,} bytes")
            return None
        current: bytes | None = path.read_bytes()
    except FileNotFoundError:
        current = None
    except OSError as error:
        plan.refused.append(f"{where}: cannot read {path}: {error.strerror or error}")
        return None
    if current is None and value and not row.sha256:
        stem = path.name[: path.name.lower().rfind(".")] if "." in path.name else path.name
        if not any((path.parent / f"{stem}{e}").is_file() for e in images):
            plan.refused.append(
                f"{where}: no such caption file and no image '{stem}.*' beside it; a new "
                "caption is only written for an image of the dataset"
            )
            return None
    current_sha = hashlib.sha256(current).hexdigest() if current is not None else ""
    if current_sha != row.sha256.lower():
        if current is None:
            why = "was deleted after the export"
        elif not row.sha256:
            why = "was created after the export"
        else:
            why = "changed after the export"
        plan.refused.append(f"{where}: the caption file {why}; export again to review it")
        return None
    if not value:
        if current is not None:
            plan.notes.append(f"{where}: caption cell is empty; file left unchanged")
        plan.unchanged += 1
        return None
    old_text = ""
    ending = ""
    bom = False
    newline = "\n"
    if current is not None:
        try:
            source = decode_caption(current, path)
        except CaptionDecodeError as error:
            plan.refused.append(f"{where}: {error}; the file is left untouched")
            return None
        old_text = source.text
        bom = source.bom
        body = strip_final_newline(old_text)
        ending = old_text[len(body) :]
        if source.newline in ("\r\n", "\r"):
            newline = source.newline
        if body.strip() == value:
            plan.unchanged += 1
            return None
    new_text = value.replace("\r\n", "\n").replace("\r", "\n")
    if newline != "\n":
        new_text = new_text.replace("\n", newline)
    new_text += ending
    problem = _syntax_error(new_text, checker)
    if problem is not None:
        plan.refused.append(f"{where}: the new caption does not parse: {problem}")
        return None
    new_bytes = encode_caption(new_text, bom=bom)
    diagnostics = _errors_of(path, row.key, new_bytes, checker)
    return Change(
        row=row.number,
        key=row.key,
        path=path,
        old=current,
        new=new_bytes,
        old_text=old_text,
        new_text=new_text,
        diagnostics=diagnostics,
    )


def _syntax_error(text: str, checker: Checker) -> str | None:
    from anima_caption._errors import line_column
    from anima_caption._parse import parse

    caption = parse(text, lookup=checker.lookup, triggers=checker.config.triggers)
    if not caption.errors:
        return None
    first = caption.errors[0]
    line, column = line_column(text, first.error_span[0])
    return f"{line}:{column}: {first.message}"


def _errors_of(path: Path, key: str, data: bytes, checker: Checker) -> list[Diagnostic]:
    from anima_caption._check._context import CaptionContext
    from anima_caption._check._diagnostic import Diagnostic, Severity
    from anima_caption._io import decode_caption
    from anima_caption._parse import parse

    ctx = CaptionContext(path=path, display=key, config=checker.config, db=checker.db)
    ctx.file = decode_caption(data, path)
    ctx.caption = parse(ctx.file.text, lookup=checker.lookup, triggers=checker.config.triggers)
    return [
        Diagnostic.from_record(d)
        for d in checker.check_caption(ctx)
        if d.severity is Severity.ERROR
    ]


def write_changes(root: Path, changes: list[Change], command: str) -> tuple[int, list[str]]:
    """Write ``changes`` in one journalled run; return (files written, refusals)."""
    from anima_caption._journal import FileChangedError, WriteRun

    refused: list[str] = []
    written = 0
    with WriteRun(root, command) as run:
        for change in changes:
            try:
                run.write(change.path, change.new, original=change.old)
            except FileChangedError as error:
                refused.append(f"row {change.row}: {error}")
                continue
            written += 1
    return written, refused
