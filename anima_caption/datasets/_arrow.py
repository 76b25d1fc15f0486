"""Arrow tables in, Arrow tables out: the columnar side of :class:`Linter` and
:class:`Converter` (``pyarrow`` is imported here only, on first use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from anima_caption._errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from anima_caption._check._api import Linter
    from anima_caption._check._diagnostic import DiagnosticRecord
    from anima_caption._convert._convert import ConversionResult, Converter

_DIAGNOSTIC_FIELDS = (
    ("code", "string"),
    ("slug", "string"),
    ("severity", "string"),
    ("message", "string"),
    ("line", "int32"),
    ("column", "int32"),
    ("end_line", "int32"),
    ("end_column", "int32"),
    ("fixable", "bool_"),
)
_CHANGE_FIELDS = (("rule", "string"), ("old", "string"), ("new", "string"))


def pyarrow() -> Any:
    """The ``pyarrow`` module, or a usage error saying how to get it."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise UsageError(
            "this needs pyarrow: pip install pyarrow (or anima-caption[datasets])"
        ) from None
    return pa


def _struct_list(fields: tuple[tuple[str, str], ...]) -> pa.DataType:
    pa = pyarrow()
    return pa.list_(pa.struct([(name, getattr(pa, kind)()) for name, kind in fields]))


def diagnostics_type() -> pa.DataType:
    """``list<struct<code, slug, severity, message, line, column, end_line, end_column,
    fixable>>``: the type of a ``diagnostics`` column."""
    return _struct_list(_DIAGNOSTIC_FIELDS)


def changes_type() -> pa.DataType:
    """``list<struct<rule, old, new>>``: the type of a ``changes`` column."""
    return _struct_list(_CHANGE_FIELDS)


def diagnostic_rows(records: Sequence[DiagnosticRecord]) -> list[dict[str, Any]]:
    """One caption's diagnostics as the structs of a ``diagnostics`` column."""
    return [
        {
            "code": r.code,
            "slug": r.slug,
            "severity": str(r.severity),
            "message": r.message,
            "line": r.line,
            "column": r.column,
            "end_line": r.end_line,
            "end_column": r.end_column,
            "fixable": r.fixable,
        }
        for r in records
    ]


def change_rows(result: ConversionResult) -> list[dict[str, str]]:
    """One caption's changes as the structs of a ``changes`` column."""
    return [{"rule": c.rule, "old": c.old, "new": c.new} for c in result.changes]


def texts_of(table: pa.Table, column: str) -> list[str]:
    """The captions of ``column`` (a null is an empty caption); a usage error naming the
    columns there are when it is missing."""
    if column not in table.column_names:
        raise UsageError(
            f"no column {column!r} in the table (columns: {', '.join(table.column_names)}); "
            "name the caption column"
        )
    return ["" if v is None else str(v) for v in table.column(column).to_pylist()]


def _ids(table: pa.Table, id_column: str | None) -> list[str] | None:
    if id_column is None:
        return None
    if id_column not in table.column_names:
        raise UsageError(
            f"no id column {id_column!r} in the table (columns: {', '.join(table.column_names)})"
        )
    return [str(v) for v in table.column(id_column).to_pylist()]


def _replace(table: pa.Table, name: str, values: Any) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def lint_table(
    linter: Linter, table: pa.Table, *, column: str = "caption", id_column: str | None = None
) -> pa.Table:
    """See :meth:`Linter.lint_table`."""
    pa = pyarrow()
    texts = texts_of(table, column)
    found = linter.records_many(texts, ids=_ids(table, id_column))
    errors = [sum(1 for r in rs if r.severity == "error") for rs in found]
    warnings = [sum(1 for r in rs if r.severity == "warning") for rs in found]
    table = _replace(
        table, "diagnostics", pa.array([diagnostic_rows(rs) for rs in found], diagnostics_type())
    )
    table = _replace(table, "errors", pa.array(errors, pa.int32()))
    return _replace(table, "warnings", pa.array(warnings, pa.int32()))


def convert_table(
    converter: Converter,
    table: pa.Table,
    *,
    column: str = "caption",
    id_column: str | None = None,
) -> pa.Table:
    """See :meth:`Converter.convert_table`. A caption that cannot be converted (a stray
    bracket) is kept as it was, with one change of rule ``error`` saying why."""
    pa = pyarrow()
    _ids(table, id_column)  # a missing id column is an error here too
    results = convert_texts(converter, texts_of(table, column))
    table = _replace(table, column, pa.array([r[0] for r in results], pa.string()))
    table = _replace(table, "changes", pa.array([r[1] for r in results], changes_type()))
    return _replace(table, "changed", pa.array([r[2] for r in results], pa.bool_()))


def convert_texts(
    converter: Converter, texts: list[str]
) -> list[tuple[str, list[dict[str, str]], bool]]:
    """``(new text, change structs, changed)`` per text; unconvertible texts kept."""
    from anima_caption._errors import CaptionSyntaxError

    try:
        results = converter.convert_many(texts)
    except CaptionSyntaxError:
        results = None
    if results is not None:
        return [(r.text, change_rows(r), r.changed) for r in results]
    out: list[tuple[str, list[dict[str, str]], bool]] = []
    for text in texts:  # one caption of the batch is refused: find it, keep the rest
        try:
            result = converter.convert(text)
        except CaptionSyntaxError as error:
            message = str(error).splitlines()[0]
            out.append((text, [{"rule": "error", "old": "", "new": message}], False))
            continue
        out.append((result.text, change_rows(result), result.changed))
    return out
