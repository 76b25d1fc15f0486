"""The review spreadsheet: ``.xlsx`` with embedded thumbnails, or ``.csv`` (UTF-8 BOM).

Columns are found by their header text when the sheet is read back, so a reviewer may
re-order, sort or hide columns. Two columns tie a row to its file: the caption path
relative to the dataset and the SHA-256 of the caption's bytes at export; ``review apply``
refuses a row whose file no longer has that hash.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from anima_caption._errors import UsageError
from anima_caption._review._dataset import ReviewRow, ReviewSet
from anima_caption._version import __version__

if TYPE_CHECKING:
    from anima_caption._review._thumbs import Thumbnail

COL_IMAGE = "Image"
COL_FILE = "File"
COL_CURRENT = "Current caption"
COL_PROPOSED = "Proposed caption (edit this)"
COL_DIAGNOSTICS = "Diagnostics"
COL_NOTES = "Notes"
COL_KEY = "Caption file"
COL_SHA = "SHA-256 at export"
HEADERS = (
    COL_IMAGE,
    COL_FILE,
    COL_CURRENT,
    COL_PROPOSED,
    COL_DIAGNOSTICS,
    COL_NOTES,
    COL_KEY,
    COL_SHA,
)
REQUIRED = (COL_PROPOSED, COL_KEY, COL_SHA)
SHEET = "review"
ABOUT = "about"
#: Excel refuses cells longer than this.
MAX_CELL = 32767
#: Excel's largest row height, in points.
MAX_ROW_HEIGHT = 409.0
#: Column widths in characters.
_WIDTHS = {COL_FILE: 26, COL_CURRENT: 60, COL_PROPOSED: 60, COL_DIAGNOSTICS: 50, COL_NOTES: 30}


@dataclass(frozen=True)
class SheetRow:
    """One row read back from a review sheet."""

    number: int
    """The row number in the sheet (1 is the header), for messages."""
    key: str
    sha256: str
    caption: str | None
    notes: str


def diagnostics_text(row: ReviewRow) -> str:
    """The row's diagnostics as lines ``CODE/slug line:col severity message``."""
    lines = []
    if row.read_error:
        lines.append(f"cannot read caption: {row.read_error}")
    elif not row.exists:
        lines.append("no caption file")
    if row.propose_error:
        lines.append(f"no proposal: {row.propose_error}")
    for d in row.diagnostics:
        where = f" {d.line}:{d.column}" if d.span is not None else ""
        lines.append(f"{d.name}{where} {d.severity.value}: {d.message}")
    return "\n".join(lines)


def proposed_text(row: ReviewRow) -> str:
    """What the editable column starts with: the proposal, else the current caption."""
    return row.proposed if row.proposed is not None else row.text


def write_xlsx(
    review: ReviewSet,
    out: Path,
    *,
    thumb_box: int = 128,
    thumbnail: Callable[[Path, int], Thumbnail] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Write the review workbook to ``out``; return the problems to report (bad images…)."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image as SheetImage
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from anima_caption._review._thumbs import make_thumbnails

    problems: list[str] = []
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = SHEET
    sheet.append(list(HEADERS))
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE4EE")
    for cell in sheet[1]:
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    column = {name: i + 1 for i, name in enumerate(HEADERS)}
    total = len(review.rows)
    thumbs = make_thumbnails([row.image for row in review.rows], thumb_box, thumbnail)
    for number, (row, thumb) in enumerate(zip(review.rows, thumbs, strict=True), 2):
        values: dict[str, str] = {
            COL_IMAGE: "" if row.image is not None else "(no image)",
            COL_FILE: row.name,
            COL_CURRENT: row.text,
            COL_PROPOSED: proposed_text(row),
            COL_DIAGNOSTICS: diagnostics_text(row),
            COL_NOTES: "",
            COL_KEY: row.key,
            COL_SHA: row.sha256,
        }
        for name, value in values.items():
            if len(value) > MAX_CELL:
                problems.append(f"{row.key}: caption longer than a spreadsheet cell; cut")
                value = value[:MAX_CELL]
            cell = sheet.cell(row=number, column=column[name], value=value)
            # A caption starting with '=' is text, never a formula.
            cell.data_type = "s"
            cell.alignment = wrap
        height = 15.0 * max(1, min(8, values[COL_DIAGNOSTICS].count("\n") + 1))
        if row.image is not None and thumb is not None:
            if thumb.data is None:
                message = f"{row.image.name}: {thumb.error}"
                problems.append(f"{row.image}: {thumb.error}")
                sheet.cell(row=number, column=column[COL_IMAGE], value=f"(no thumbnail) {message}")
            else:
                picture = SheetImage(io.BytesIO(thumb.data))
                picture.width, picture.height = thumb.width, thumb.height
                sheet.add_image(picture, f"{get_column_letter(column[COL_IMAGE])}{number}")
                height = min(MAX_ROW_HEIGHT, max(height, thumb.height * 0.75 + 6))
        sheet.row_dimensions[number].height = height
        if progress is not None:
            progress(number - 1, total)
    sheet.column_dimensions[get_column_letter(column[COL_IMAGE])].width = thumb_box / 7 + 2
    for name, width in _WIDTHS.items():
        sheet.column_dimensions[get_column_letter(column[name])].width = width
    for name in (COL_KEY, COL_SHA):
        sheet.column_dimensions[get_column_letter(column[name])].hidden = True
    sheet.freeze_panes = "C2"
    _about_sheet(book, review)
    _save_atomic(out, book.save)
    return problems


def _about_sheet(book: object, review: ReviewSet) -> None:
    from openpyxl import Workbook

    assert isinstance(book, Workbook)
    about = book.create_sheet(ABOUT)
    lines = [
        ("anima-caption review sheet", ""),
        ("How to use", f"Edit the '{COL_PROPOSED}' column on the '{SHEET}' sheet, then run:"),
        ("", f"anima-caption review apply THIS_FILE {review.root} (add --write to write)"),
        ("", "Rows whose caption file changed after the export are refused."),
        ("", "The hidden columns tie each row to its file: do not edit them."),
        ("dataset", str(review.root.resolve())),
        ("proposals", review.propose),
        ("exported", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("tool", f"anima-caption {__version__}"),
    ]
    for line in lines:
        about.append(list(line))
    about.column_dimensions["A"].width = 18
    about.column_dimensions["B"].width = 90


#: A CSV cell starting with one of these is a formula to spreadsheet programs
#: (``=HYPERLINK(...)``, ``+cmd``, ``@SUM``, a tab or line end before one): such cells are
#: written with a leading ``'``, and a cell starting with ``'`` gets one more, so reading
#: the sheet back (one leading ``'`` removed) gives every caption exactly.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
#: Sheets larger than this are refused before reading (a review of 100,000 images is
#: far smaller); so is a workbook whose sheets would unpack to more.
MAX_SHEET_BYTES = 512 << 20
#: The longest CSV cell read: a caption file may hold up to 1 MiB of UTF-8.
MAX_CSV_CELL = 4 << 20


def csv_cell(value: str) -> str:
    """``value`` as a CSV cell that spreadsheet programs show as text, never run."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv_value(value: str) -> str:
    """The inverse of :func:`csv_cell`."""
    return value[1:] if value.startswith("'") else value


def write_csv(review: ReviewSet, out: Path) -> list[str]:
    """Write the review as CSV, UTF-8 with a BOM (spreadsheet programs then read it as
    UTF-8); the image column holds the image's file name. Cells that a spreadsheet would
    read as a formula are neutralised (:func:`csv_cell`)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for row in review.rows:
        writer.writerow(
            csv_cell(value)
            for value in [
                row.image.name if row.image is not None else "",
                row.name,
                row.text,
                proposed_text(row),
                diagnostics_text(row),
                "",
                row.key,
                row.sha256,
            ]
        )
    data = "\ufeff" + buffer.getvalue()
    _save_atomic(out, lambda target: Path(target).write_bytes(data.encode("utf-8")))
    return []


def _save_atomic(out: Path, save: Callable[[str], object]) -> None:
    """Save through a temporary file beside ``out``, renamed over it when complete."""
    import os
    import tempfile

    out = Path(out)
    if out.parent and not out.parent.is_dir():
        raise UsageError(f"{out}: folder {out.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save(tmp)
        # mkstemp makes the file private; give it the permissions a new file normally gets.
        umask = os.umask(0)
        os.umask(umask)
        Path(tmp).chmod(0o666 & ~umask)
        Path(tmp).replace(out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- reading back ----------------------------------------------------------------------------


def read_sheet(path: Path) -> list[SheetRow]:
    """Rows of an edited review sheet (``.xlsx`` or ``.csv``), found by header names.

    A sheet is untrusted input too: one over :data:`MAX_SHEET_BYTES`, a workbook that
    would unpack to more, XML with a DTD or entities (a "billion laughs" bomb), a CSV cell
    over :data:`MAX_CSV_CELL`: each is a :class:`UsageError` naming the file (and line).
    """
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_SHEET_BYTES:
        raise UsageError(
            f"{path}: {size:,} bytes; a review sheet over {MAX_SHEET_BYTES:,} is refused"
        )
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = list(_csv_rows(path))
    elif suffix in (".xlsx", ".xlsm"):
        table = list(_xlsx_rows(path))
    else:
        raise UsageError(f"{path}: expected a .xlsx or .csv review sheet")
    if not table:
        raise UsageError(f"{path}: empty sheet")
    header = [(str(v).strip() if v is not None else "") for v in table[0]]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise UsageError(
            f"{path}: not a review sheet exported by anima-caption "
            f"(column(s) {', '.join(repr(m) for m in missing)} missing)"
        )
    index = {name: header.index(name) for name in HEADERS if name in header}

    def cell(values: list[object], name: str) -> object:
        at = index.get(name)
        return values[at] if at is not None and at < len(values) else None

    rows: list[SheetRow] = []
    for number, values in enumerate(table[1:], 2):
        key = cell(values, COL_KEY)
        if key is None or str(key).strip() == "":
            if any(v not in (None, "") for v in values):
                rows.append(SheetRow(number, "", "", _text(cell(values, COL_PROPOSED)), ""))
            continue
        rows.append(
            SheetRow(
                number=number,
                key=str(key).strip(),
                sha256=str(cell(values, COL_SHA) or "").strip(),
                caption=_text(cell(values, COL_PROPOSED)),
                notes=str(cell(values, COL_NOTES) or ""),
            )
        )
    return rows


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _csv_rows(path: Path) -> Iterator[list[object]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{path}: not UTF-8 (byte {error.start}); save it as 'CSV UTF-8'"
        ) from None
    if csv.field_size_limit() < MAX_CSV_CELL:
        csv.field_size_limit(MAX_CSV_CELL)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for values in reader:
            yield [_csv_value(value) for value in values]
    except csv.Error as error:
        raise UsageError(f"{path}:{reader.line_num}: not a readable CSV row ({error})") from None


def _xlsx_rows(path: Path) -> Iterator[list[object]]:
    import zipfile
    from xml.etree.ElementTree import ParseError

    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as error:
        raise UsageError(f"{path}: cannot read the workbook: {error}") from None
    if unpacked > MAX_SHEET_BYTES:
        raise UsageError(
            f"{path}: the workbook unpacks to {unpacked:,} bytes (over {MAX_SHEET_BYTES:,}); "
            "refused"
        )
    problems: tuple[type[Exception], ...] = (
        zipfile.BadZipFile,
        ParseError,
        ValueError,
        KeyError,
        OSError,
    )
    try:
        from defusedxml import DefusedXmlException

        problems = (*problems, DefusedXmlException)
    except ImportError:  # pragma: no cover - a dependency; expat's own limits still apply
        pass
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except problems as error:
        raise UsageError(f"{path}: cannot read the workbook: {_one_line(error)}") from None
    try:
        sheet = book[SHEET] if SHEET in book.sheetnames else book.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield list(values)
    except problems as error:
        raise UsageError(f"{path}: cannot read the workbook: {_one_line(error)}") from None
    finally:
        book.close()


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
