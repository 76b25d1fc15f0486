"""Readers for the tag-data formats: each yields plain rows and reports malformed ones.

Formats (details and quirks: ``docs/tagdb.md``):

* tagcomplete CSV, no header: ``name,category,post_count,"alias1,alias2"``;
* full tag-list CSV with a header ``name,category,post_count``;
* Danbooru alias / implication CSV with a header
  ``antecedent_name,consequent_name,status[,id,created_at,…]``;
* Danbooru API JSON pages (``/tags.json``, ``/tag_aliases.json``, ``/tag_implications.json``):
  a JSON array of objects;
* parquet dumps of the same tables (issue 17): columns ``name, category, post_count``
  (``is_deprecated``, ``aliases`` when there) or ``antecedent_name, consequent_name,
  status`` (``id``, ``created_at``), read a row group at a time.

A malformed row is reported as ``file:line: message`` through :class:`ImportReport` and
skipped; with ``strict=True`` the first one raises :class:`ImportFormatError` instead.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from anima_caption._tagdb._errors import ImportFormatError, TagDBError

#: Danbooru tag categories (2 is unused).
DANBOORU_CATEGORIES = frozenset({0, 1, 3, 4, 5})

TagKind = Literal["tags-full", "tags-tagcomplete", "tags-api", "tags-parquet"]
RelationKind = Literal["aliases", "implications"]

#: (name, category, post_count, aliases, deprecated) — names in Danbooru's spelling.
TagRow = tuple[str, int, int, tuple[str, ...], bool]
#: (antecedent, consequent, status, danbooru_id, created_at)
RelationRow = tuple[str, str, str, "int | None", "str | None"]

_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_MAX_KEPT_PROBLEMS = 20


@dataclass
class ImportReport:
    """What happened while reading one file: rows read, rows skipped, the problems seen."""

    path: Path
    kind: str
    strict: bool = False
    on_problem: Callable[[str], None] | None = None
    rows: int = 0
    skipped: int = 0
    shortcuts: int = 0
    problems: list[str] = field(default_factory=list)
    data_date: str | None = None
    #: Called now and then with the bytes of the file read so far (CSV files; a progress
    #: bar for ``tagdb import``).
    on_bytes: Callable[[int], None] | None = None

    def read_so_far(self, handle: Any, line: int) -> None:
        """Report the bytes read from ``handle`` (a text file) every 8,192 lines."""
        if self.on_bytes is not None and not line & 8191:
            self.on_bytes(handle.buffer.tell())

    def problem(self, line: int, message: str) -> None:
        """Record a malformed row at ``line`` (1-based); raise instead when strict."""
        if self.strict:
            raise ImportFormatError(str(self.path), line, message)
        self.skipped += 1
        text = f"{self.path}:{line}: {message}"
        if len(self.problems) < _MAX_KEPT_PROBLEMS:
            self.problems.append(text)
        if self.on_problem is not None:
            self.on_problem(text)

    def note_date(self, date: str | None) -> None:
        """Keep the newest ISO date seen (``created_at`` values or the file name)."""
        if date and (self.data_date is None or date > self.data_date):
            self.data_date = date


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as error:
        raise TagDBError(f"{path}: cannot read: {error.strerror or error}") from error
    return digest.hexdigest()


def date_from_name(path: Path) -> str | None:
    """An ISO date written in a file name (``danbooru_tags_full_2025-09-24.csv``), if any."""
    match = _DATE_RE.search(path.name)
    return match.group(1) if match else None


def _open_text(path: Path) -> Any:
    try:
        return path.open("r", encoding="utf-8-sig", newline="")
    except OSError as error:
        raise TagDBError(f"{path}: cannot read: {error.strerror or error}") from error


def is_parquet(path: Path) -> bool:
    """Whether ``path`` starts with parquet's magic bytes."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError as error:
        raise TagDBError(f"{path}: cannot read: {error.strerror or error}") from error


def sniff_tag_file(path: Path) -> TagKind:
    """Which tag-list format ``path`` holds: full CSV (header), tagcomplete CSV, API JSON
    or a parquet dump."""
    if is_parquet(path):
        return "tags-parquet"
    with _open_text(path) as handle:
        try:
            head = handle.read(4096)
        except UnicodeDecodeError as error:
            raise TagDBError(f"{path}: not UTF-8 text ({error.reason})") from error
    stripped = head.lstrip()
    if stripped.startswith("["):
        return "tags-api"
    first = stripped.split("\n", 1)[0].strip().lower()
    if first.startswith("name,") and "category" in first:
        return "tags-full"
    return "tags-tagcomplete"


def _parse_count(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def _parse_category(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value in DANBOORU_CATEGORIES else None


def read_tag_file(path: Path, report: ImportReport) -> Iterator[TagRow]:
    """Rows of a tag list in any of the three formats (see :func:`sniff_tag_file`)."""
    kind = sniff_tag_file(path)
    report.kind = kind
    report.note_date(date_from_name(path))
    if kind == "tags-api":
        yield from _read_tag_json(path, report)
    elif kind == "tags-parquet":
        yield from _read_tag_parquet(path, report)
    else:
        yield from _read_tag_csv(path, report, header=kind == "tags-full")


def _read_tag_csv(path: Path, report: ImportReport, *, header: bool) -> Iterator[TagRow]:
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        columns = (0, 1, 2, 3)
        try:
            if header:
                names = [c.strip().lower() for c in next(reader, [])]
                try:
                    columns = (
                        names.index("name"),
                        names.index("category"),
                        names.index("post_count"),
                        names.index("aliases") if "aliases" in names else -1,
                    )
                except ValueError:
                    raise TagDBError(
                        f"{path}:1: header must name the columns name,category,post_count"
                    ) from None
            i_name, i_cat, i_count, i_alias = columns
            width = max(i_name, i_cat, i_count) + 1
            for row in reader:
                line = reader.line_num
                report.read_so_far(handle, line)
                if not row:
                    continue
                if len(row) < width or (not header and len(row) > 4):
                    expected = f"at least {width}" if header else "3 or 4"
                    report.problem(line, f"expected {expected} fields, found {len(row)}")
                    continue
                name = row[i_name].strip()
                category = _parse_category(row[i_cat])
                count = _parse_count(row[i_count])
                if not name:
                    report.problem(line, "empty tag name")
                    continue
                if category is None:
                    report.problem(line, f"category {row[i_cat]!r} is not a Danbooru category")
                    continue
                if count is None:
                    report.problem(line, f"post count {row[i_count]!r} is not a number")
                    continue
                aliases: tuple[str, ...] = ()
                if i_alias >= 0 and i_alias < len(row) and row[i_alias]:
                    aliases = tuple(a for a in row[i_alias].split(",") if a)
                report.rows += 1
                yield (name, category, count, aliases, False)
        except csv.Error as error:
            report.problem(reader.line_num, f"CSV error: {error}")
        except UnicodeDecodeError as error:
            raise TagDBError(f"{path}: not UTF-8 text ({error.reason})") from error


def _load_json_array(path: Path) -> list[Any]:
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as error:
        raise TagDBError(f"{path}: not a JSON page: {error}") from error
    if not isinstance(data, list):
        raise TagDBError(f"{path}: expected a JSON array of Danbooru records")
    return data


def _read_tag_json(path: Path, report: ImportReport) -> Iterator[TagRow]:
    for index, item in enumerate(_load_json_array(path), start=1):
        if not isinstance(item, dict):
            report.problem(index, "record is not a JSON object")
            continue
        name = item.get("name")
        category = item.get("category")
        count = item.get("post_count")
        checked = _checked_record(report, index, name, category, count)
        if checked is None:
            continue
        name, category, count = checked
        created = item.get("created_at")
        if isinstance(created, str):
            report.note_date(created[:10])
        report.rows += 1
        yield (name.strip(), category, count, (), bool(item.get("is_deprecated", False)))


def _parquet_rows(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    """The rows of a parquet dump, a row group at a time, only the columns named."""
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is in the datasets extra
        raise TagDBError(
            f"{path}: reading parquet needs pyarrow: pip install 'anima-caption[datasets]'"
        ) from None
    try:
        file = pq.ParquetFile(path)
    except Exception as error:  # ArrowInvalid (a ValueError), OSError
        raise TagDBError(f"{path}: not a readable parquet file ({error})") from None
    names = list(file.schema_arrow.names)
    missing = [c for c in required if c not in names]
    if missing:
        raise TagDBError(
            f"{path}: a parquet dump needs the columns {', '.join(required)}; "
            f"no {missing[0]!r} (columns: {', '.join(names)})"
        )
    columns = [*required, *(c for c in optional if c in names)]
    for group in range(file.num_row_groups):
        try:
            table = file.read_row_group(group, columns=columns)
        except Exception as error:
            raise TagDBError(f"{path}: row group {group} cannot be read ({error})") from None
        yield from table.to_pylist()


def _read_tag_parquet(path: Path, report: ImportReport) -> Iterator[TagRow]:
    optional = ("is_deprecated", "aliases", "created_at")
    rows = _parquet_rows(path, ("name", "category", "post_count"), optional)
    for index, item in enumerate(rows, start=1):
        name = item["name"]
        category = item["category"]
        count = item["post_count"]
        if isinstance(category, str) and category.strip().isdigit():
            category = int(category)
        checked = _checked_record(report, index, name, category, count)
        if checked is None:
            continue
        name, category, count = checked
        aliases = item.get("aliases")
        if isinstance(aliases, str):
            aliases = [a for a in aliases.split(",") if a]
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            aliases = []
        created = item.get("created_at")
        if created is not None:
            report.note_date(str(created)[:10])
        report.rows += 1
        yield (name.strip(), category, count, tuple(aliases), bool(item.get("is_deprecated")))


def read_relation_file(path: Path, report: ImportReport) -> Iterator[RelationRow]:
    """Rows of an alias or implication file (CSV with header, API JSON pages or a
    parquet dump)."""
    if is_parquet(path):
        yield from _read_relation_parquet(path, report)
        return
    with _open_text(path) as handle:
        try:
            head = handle.read(1).lstrip()
        except UnicodeDecodeError as error:
            raise TagDBError(f"{path}: not UTF-8 text ({error.reason})") from error
    if head == "[":
        yield from _read_relation_json(path, report)
    else:
        yield from _read_relation_csv(path, report)


def _relation(
    report: ImportReport, line: int, ante: Any, cons: Any, status: Any, ident: Any, created: Any
) -> RelationRow | None:
    if not isinstance(ante, str) or not ante.strip():
        report.problem(line, "empty antecedent_name")
        return None
    if not isinstance(cons, str) or not cons.strip():
        report.problem(line, "empty consequent_name")
        return None
    if not isinstance(status, str) or not status.strip():
        report.problem(line, "empty status")
        return None
    danbooru_id: int | None = None
    if isinstance(ident, int):
        danbooru_id = ident
    elif isinstance(ident, str) and ident.strip():
        try:
            danbooru_id = int(ident)
        except ValueError:
            report.problem(line, f"id {ident!r} is not a number")
            return None
    created_at = created if isinstance(created, str) and created else None
    if created_at:
        report.note_date(created_at[:10])
    report.rows += 1
    return (ante.strip(), cons.strip(), status.strip().lower(), danbooru_id, created_at)


def _read_relation_csv(path: Path, report: ImportReport) -> Iterator[RelationRow]:
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = [c.strip().lower() for c in next(reader, [])]
        try:
            i_ante = header.index("antecedent_name")
            i_cons = header.index("consequent_name")
            i_status = header.index("status")
        except ValueError:
            raise TagDBError(
                f"{path}:1: header must name the columns antecedent_name,consequent_name,status"
            ) from None
        i_id = header.index("id") if "id" in header else -1
        i_created = header.index("created_at") if "created_at" in header else -1
        width = max(i_ante, i_cons, i_status, i_id, i_created) + 1
        try:
            for row in reader:
                line = reader.line_num
                report.read_so_far(handle, line)
                if not row:
                    continue
                if len(row) < width:
                    report.problem(line, f"expected {width} fields, found {len(row)}")
                    continue
                rel = _relation(
                    report,
                    line,
                    row[i_ante],
                    row[i_cons],
                    row[i_status],
                    row[i_id] if i_id >= 0 else None,
                    row[i_created] if i_created >= 0 else None,
                )
                if rel is not None:
                    yield rel
        except csv.Error as error:
            report.problem(reader.line_num, f"CSV error: {error}")


def _read_relation_json(path: Path, report: ImportReport) -> Iterator[RelationRow]:
    for index, item in enumerate(_load_json_array(path), start=1):
        if not isinstance(item, dict):
            report.problem(index, "record is not a JSON object")
            continue
        rel = _relation(
            report,
            index,
            item.get("antecedent_name"),
            item.get("consequent_name"),
            item.get("status"),
            item.get("id"),
            item.get("created_at"),
        )
        if rel is not None:
            yield rel


def _read_relation_parquet(path: Path, report: ImportReport) -> Iterator[RelationRow]:
    rows = _parquet_rows(
        path, ("antecedent_name", "consequent_name", "status"), ("id", "created_at")
    )
    for index, item in enumerate(rows, start=1):
        created = item.get("created_at")
        rel = _relation(
            report,
            index,
            item["antecedent_name"],
            item["consequent_name"],
            item["status"],
            item.get("id"),
            None if created is None else str(created),
        )
        if rel is not None:
            yield rel


def _checked_record(
    report: ImportReport, index: int, name: object, category: object, count: object
) -> tuple[str, int, int] | None:
    """A tag record's name, category and post count when usable; else None, with the
    problem reported against ``index``."""
    if not isinstance(name, str) or not name.strip():
        report.problem(index, "record has no tag name")
        return None
    if not isinstance(category, int) or category not in DANBOORU_CATEGORIES:
        report.problem(index, f"category {category!r} is not a Danbooru category")
        return None
    if not isinstance(count, int) or count < 0:
        report.problem(index, f"post count {count!r} is not a number")
        return None
    return name, category, count
