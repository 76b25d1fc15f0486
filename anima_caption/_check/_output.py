"""Output formats of ``anima-caption check``: text, concise, json, github, sarif, junit.

Also the ``anima-caption rules`` table and ``anima-caption rule CODE`` page. Only the standard
library is imported here, so the command starts fast in pre-commit hooks.

Units everywhere: ``line`` and ``column`` are 1-based, columns count Unicode code points (SARIF
``columnKind: unicodeCodePoints``); ``end_line`` / ``end_column`` point just past the span.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import groupby
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

from anima_caption._check._diagnostic import AnyDiagnostic, Applicability, Severity
from anima_caption._errors import UsageError
from anima_caption._version import __version__

if TYPE_CHECKING:
    from anima_caption._check._registry import Rule

__all__ = [
    "FORMATS",
    "format_rule_doc",
    "format_rules_json",
    "format_rules_table",
    "render",
]

#: The values ``--format`` accepts; ``text`` is the default.
FORMATS: tuple[str, ...] = ("text", "concise", "json", "github", "sarif", "junit")

TOOL_NAME = "anima-caption"
INFORMATION_URI = "https://github.com/anima-caption/anima-caption"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

#: How far a caret frame shows a long caption line around the span (display columns).
FRAME_WIDTH = 100


def render(
    diagnostics: Sequence[AnyDiagnostic],
    *,
    fmt: str,
    out: TextIO,
    sources: Mapping[str, str],
    rules: Sequence[type[Rule]],
    show_fixes: bool,
    unsafe_fixes: bool,
    files_checked: int,
    fixed: int = 0,
    checked_paths: Sequence[str] | None = None,
    dry_run: bool = False,
    not_written: int = 0,
) -> None:
    """Write ``diagnostics`` to ``out`` in format ``fmt`` (one of :data:`FORMATS`).

    ``sources`` maps a diagnostic's path to its caption text (for caret frames; paths may be
    missing). ``rules`` are the rules that ran (SARIF's rules array, docs links).
    ``show_fixes`` adds a ``help:`` line for safe fixes too; ``unsafe_fixes`` counts unsafe
    fixes as applicable. ``files_checked`` and ``fixed`` feed the text summary;
    ``dry_run``: the fixes were only shown (``--diff``), so they "would" be fixed;
    ``not_written``: fixed files that could not be written (never "All checks passed!").
    ``checked_paths`` (optional) lets the JUnit report list clean files as passing tests.
    Diagnostics are written in a stable order (path, line, column, code).
    """
    ordered = sorted(diagnostics, key=_sort_key)
    if fmt == "text":
        _render_text(
            ordered,
            out,
            sources,
            show_fixes=show_fixes,
            unsafe_fixes=unsafe_fixes,
            files_checked=files_checked,
            fixed=fixed,
            dry_run=dry_run,
            not_written=not_written,
        )
    elif fmt == "concise":
        _render_concise(ordered, out, unsafe_fixes=unsafe_fixes)
    elif fmt == "json":
        _render_json(ordered, out, rules)
    elif fmt == "github":
        _render_github(ordered, out)
    elif fmt == "sarif":
        _render_sarif(ordered, out, rules)
    elif fmt == "junit":
        _render_junit(ordered, out, files_checked=files_checked, checked_paths=checked_paths)
    else:
        raise UsageError(f"unknown output format '{fmt}' (choose from {', '.join(FORMATS)})")


# -- shared helpers --------------------------------------------------------------------------


def _sort_key(d: AnyDiagnostic) -> tuple[str, int, int, str]:
    return (d.path, d.line, d.column, d.code)


def _applicable(diagnostic: AnyDiagnostic, unsafe_fixes: bool) -> bool:
    """Whether ``--fix`` (with or without ``--unsafe-fixes``) would apply the fix."""
    fix = diagnostic.fix
    if fix is None:
        return False
    if fix.applicability is Applicability.SAFE:
        return True
    return fix.applicability is Applicability.UNSAFE and unsafe_fixes


def _one_line(text: str) -> str:
    """``text`` with line breaks shown as ``⏎`` (one diagnostic, one line)."""
    return text.replace("\r\n", " ⏎ ").replace("\n", " ⏎ ").replace("\r", " ⏎ ")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _url(diagnostic: AnyDiagnostic, by_code: Mapping[str, type[Rule]]) -> str:
    if diagnostic.url:
        return diagnostic.url
    rule = by_code.get(diagnostic.code)
    return rule.url() if rule is not None else ""


# -- text ------------------------------------------------------------------------------------


class _Style:
    """ANSI styling, or none at all."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def red(self, text: str) -> str:
        return self._wrap("1;31", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)

    def severity(self, severity: Severity) -> str:
        code = {Severity.ERROR: "1;31", Severity.WARNING: "1;33", Severity.INFO: "1;34"}
        return self._wrap(code[severity], severity.value)


def use_colour(out: TextIO) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty: Callable[[], bool] | None = getattr(out, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def _headline(d: AnyDiagnostic, style: _Style, unsafe_fixes: bool) -> str:
    where = style.bold(f"{d.path}:{d.line}:{d.column}:")
    marker = " [*]" if _applicable(d, unsafe_fixes) else ""
    message = _one_line(d.message)
    return f"{where} {style.severity(d.severity)} {style.red(d.name)} {message}{marker}"


def _help_line(d: AnyDiagnostic, show_fixes: bool, unsafe_fixes: bool) -> str | None:
    fix = d.fix
    if fix is None or not fix.message:
        return None
    if fix.applicability is Applicability.DISPLAY_ONLY:
        return f"help: {fix.message}"
    if fix.applicability is Applicability.UNSAFE:
        if unsafe_fixes:
            return f"help: {fix.message} (unsafe fix)"
        return f"help: {fix.message} (unsafe fix: apply with --fix --unsafe-fixes)"
    return f"help: {fix.message}" if show_fixes else None


def _render_text(
    diagnostics: Sequence[AnyDiagnostic],
    out: TextIO,
    sources: Mapping[str, str],
    *,
    show_fixes: bool,
    unsafe_fixes: bool,
    files_checked: int,
    fixed: int,
    dry_run: bool = False,
    not_written: int = 0,
) -> None:
    style = _Style(use_colour(out))
    for d in diagnostics:
        _write_entry(out, d, sources.get(d.path), style, show_fixes, unsafe_fixes)
    out.write(
        summary(
            diagnostics,
            files_checked=files_checked,
            fixed=fixed,
            unsafe_fixes=unsafe_fixes,
            style=style,
            dry_run=dry_run,
            not_written=not_written,
        )
    )


def summary(
    diagnostics: Sequence[AnyDiagnostic],
    *,
    files_checked: int,
    fixed: int = 0,
    unsafe_fixes: bool = False,
    style: _Style | None = None,
    dry_run: bool = False,
    not_written: int = 0,
) -> str:
    """The footer of the text format: counts by severity and code, and what is fixable
    (``dry_run``: the fixes were shown, not written)."""
    tally = Tally(unsafe_fixes)
    for d in diagnostics:
        tally.add(d)
    tally.files_with = len({d.path for d in diagnostics})
    return tally.summary(
        files_checked=files_checked,
        fixed=fixed,
        style=style,
        dry_run=dry_run,
        not_written=not_written,
    )


class Tally:
    """What the text format's footer counts, added one diagnostic at a time (a report
    written as the diagnostics come). ``files_with`` counts path changes: give the
    diagnostics sorted by path."""

    def __init__(self, unsafe_fixes: bool = False) -> None:
        self.unsafe_fixes = unsafe_fixes
        self.total = 0
        self.by_severity: Counter[Severity] = Counter()
        self.by_code: Counter[str] = Counter()
        self.fixable_codes: set[str] = set()
        self.safe = 0
        self.unsafe = 0
        self.files_with = 0
        self._path: str | None = None

    def add(self, d: AnyDiagnostic) -> None:
        """Count one diagnostic."""
        self.total += 1
        self.by_severity[d.severity] += 1
        self.by_code[d.name] += 1
        if d.path != self._path:
            self._path = d.path
            self.files_with += 1
        fix = d.fix
        if fix is not None:
            if _applicable(d, self.unsafe_fixes):
                self.fixable_codes.add(d.name)
            if fix.applicability is Applicability.SAFE:
                self.safe += 1
            elif fix.applicability is Applicability.UNSAFE:
                self.unsafe += 1

    def summary(
        self,
        *,
        files_checked: int,
        fixed: int = 0,
        style: _Style | None = None,
        dry_run: bool = False,
        not_written: int = 0,
    ) -> str:
        """The footer (see :func:`summary`)."""
        style = style or _Style(False)
        lines: list[str] = []
        if fixed and dry_run:
            lines.append(f"Would fix {_plural(fixed, 'problem')} (nothing was written).")
        elif fixed:
            lines.append(f"Fixed {_plural(fixed, 'problem')}.")
        if not_written:  # issue 15 item 11
            lines.append(
                style.bold(
                    f"{_plural(not_written, 'fixed file')} could not be written (see above)."
                )
            )
        if not self.total:
            if files_checked == 0 and not fixed:
                # an empty shard of a dataset file: nothing was checked, nothing passed
                lines.append("No captions to check.")
            elif not not_written:
                lines.append(style.bold("All checks passed!"))
            return "\n".join(lines) + "\n"
        by_severity = self.by_severity
        parts = []
        for severity, word in ((Severity.ERROR, "error"), (Severity.WARNING, "warning")):
            if by_severity[severity]:
                parts.append(_plural(by_severity[severity], word))
        if by_severity[Severity.INFO]:
            parts.append(f"{by_severity[Severity.INFO]} info")
        files_with = self.files_with
        of = f" of {files_checked}" if files_checked > files_with else ""
        lines.append(
            style.bold(
                f"Found {_plural(self.total, 'problem')} ({', '.join(parts)}) in "
                f"{files_with}{of} {'file' if files_with == 1 and not of else 'files'}."
            )
        )
        by_code = self.by_code
        width = len(str(max(by_code.values())))
        for name, count in sorted(by_code.items(), key=lambda item: (-item[1], item[0])):
            mark = " [*]" if name in self.fixable_codes else ""
            lines.append(f"  {count:>{width}}  {name}{mark}")
        safe, unsafe = self.safe, self.unsafe
        if self.unsafe_fixes and safe + unsafe:
            lines.append(f"{safe + unsafe} fixable with --fix --unsafe-fixes.")
        elif safe or unsafe:
            more = f" ({unsafe} more with --unsafe-fixes)" if unsafe else ""
            lines.append(f"{safe} fixable with --fix{more}.")
        return "\n".join(lines) + "\n"


def render_stream(
    diagnostics: Iterable[tuple[AnyDiagnostic, str | None]],
    *,
    fmt: str,
    out: TextIO,
    rules: Sequence[type[Rule]],
    show_fixes: bool,
    unsafe_fixes: bool,
    files_checked: int,
    fixed: int = 0,
) -> None:
    """:func:`render` for diagnostics that come sorted, each with its caption's text (for
    the caret frame; None: none): text, concise, github and json are written as they
    come, in the same bytes as :func:`render` writes; sarif and junit are built whole."""
    if fmt == "text":
        style = _Style(use_colour(out))
        tally = Tally(unsafe_fixes)
        for d, text in diagnostics:
            tally.add(d)
            _write_entry(out, d, text, style, show_fixes, unsafe_fixes)
        out.write(tally.summary(files_checked=files_checked, fixed=fixed, style=style))
    elif fmt == "concise":
        _render_concise((d for d, _ in diagnostics), out, unsafe_fixes=unsafe_fixes)
    elif fmt == "github":
        _render_github((d for d, _ in diagnostics), out)
    elif fmt == "json":
        by_code = {rule.code: rule for rule in rules}
        opening = "["
        for d, _ in diagnostics:
            item = json.dumps(diagnostic_json(d, _url(d, by_code)), indent=2, ensure_ascii=False)
            out.write(opening + "\n  " + item.replace("\n", "\n  "))
            opening = ","
        out.write("[]\n" if opening == "[" else "\n]\n")
    else:
        render(
            [d for d, _ in diagnostics],
            fmt=fmt,
            out=out,
            sources={},
            rules=rules,
            show_fixes=show_fixes,
            unsafe_fixes=unsafe_fixes,
            files_checked=files_checked,
            fixed=fixed,
        )


def _char_width(char: str) -> int:
    """Terminal columns of one character (wcwidth's tables: wide and fullwidth 2, combining
    and zero-width 0); a control character, which wcwidth calls -1, is counted as 1."""
    from wcwidth import wcwidth  # only for non-ASCII lines under a caret frame

    width: int = wcwidth(char)
    return 1 if width < 0 else width


def frame_lines(text: str, span: tuple[int, int], width: int = FRAME_WIDTH) -> tuple[str, str]:
    """The source line holding ``span[0]`` and a ``~~~^`` marker under the span.

    Like :func:`anima_caption._errors.caret_frame`, but the marker is aligned in display
    columns (CJK and other wide characters take two) and a long line (captions often are one
    long line) is cut to a window of about ``width`` columns around the span, with ``…``.
    """
    start = max(0, min(span[0], len(text)))
    # Only a window of the line around the span is ever shown: look no further than a few
    # widths either way, so framing every diagnostic of a 150 KB one-line caption stays
    # linear (``cut_left`` / ``cut_right``: the line goes on past the window).
    reach = 4 * width
    low = max(0, start - reach)
    line_start = max(text.rfind("\n", low, start), text.rfind("\r", low, start)) + 1
    cut_left = line_start == 0 and low > 0
    if cut_left:
        line_start = low
    high = min(len(text), max(start, min(span[1], start + reach)) + reach)
    line_end = high
    for stop in ("\n", "\r"):
        found = text.find(stop, start, high)
        if found != -1:
            line_end = min(line_end, found)
    cut_right = line_end == high < len(text)
    end = max(start + 1, min(span[1], line_end)) if line_end > start else start + 1
    line = text[line_start:line_end].replace("\t", " ")
    rel_start, rel_end = start - line_start, end - line_start

    # Display width per character (ASCII: one each, without asking wcwidth 600 times).
    widths = [1] * len(line) if line.isascii() else [_char_width(c) for c in line]
    total = sum(widths)
    lo, hi = 0, len(line)
    if total > width:
        # A window of about ``width`` columns: the span plus context on both sides.
        span_width = sum(widths[rel_start:rel_end])
        context = max(10, (width - span_width) // 2)
        lo, used = rel_start, 0
        while lo > 0 and used + widths[lo - 1] <= context:
            lo -= 1
            used += widths[lo]
        hi = min(len(line), rel_end)
        used = sum(widths[lo:hi])
        while hi < len(line) and used + widths[hi] <= width:
            used += widths[hi]
            hi += 1
    shown = line[lo:hi]
    prefix = "…" if lo > 0 or cut_left else ""
    suffix = "…" if hi < len(line) or cut_right else ""
    pad = sum(widths[lo:rel_start]) + len(prefix)
    under = sum(widths[rel_start : min(rel_end, hi)]) if rel_start < len(line) else 1
    under = max(1, under)
    marker = " " * pad + "~" * (under - 1) + "^"
    return f"{prefix}{shown}{suffix}", marker


# -- concise ---------------------------------------------------------------------------------


def _render_concise(
    diagnostics: Iterable[AnyDiagnostic], out: TextIO, *, unsafe_fixes: bool
) -> None:
    for d in diagnostics:
        marker = " [*]" if _applicable(d, unsafe_fixes) else ""
        out.write(
            f"{d.path}:{d.line}:{d.column}: {d.severity.value} {d.name} "
            f"{_one_line(d.message)}{marker}\n"
        )


# -- json ------------------------------------------------------------------------------------


def diagnostic_json(d: AnyDiagnostic, url: str = "") -> dict[str, Any]:
    """One diagnostic as the JSON object of ``--format json``."""
    fix = None
    if d.fix is not None:
        fix = {
            "applicability": d.fix.applicability.value,
            "message": d.fix.message,
            "edits": [{"start": e.start, "end": e.end, "content": e.content} for e in d.fix.edits],
        }
    return {
        "path": d.path,
        "line": d.line,
        "column": d.column,
        "end_line": d.end_line,
        "end_column": d.end_column,
        "code": d.code,
        "slug": d.slug,
        "name": d.name,
        "severity": d.severity.value,
        "message": d.message,
        "url": url or d.url,
        "fix": fix,
    }


def _render_json(
    diagnostics: Sequence[AnyDiagnostic], out: TextIO, rules: Sequence[type[Rule]]
) -> None:
    by_code = {rule.code: rule for rule in rules}
    records = [diagnostic_json(d, _url(d, by_code)) for d in diagnostics]
    json.dump(records, out, indent=2, ensure_ascii=False)
    out.write("\n")


# -- github ----------------------------------------------------------------------------------

_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def _render_github(diagnostics: Iterable[AnyDiagnostic], out: TextIO) -> None:
    for path, group in groupby(diagnostics, key=lambda d: d.path):
        out.write(f"::group::{_gh_data(path)}\n")
        for d in group:
            props = [
                f"file={_gh_property(d.path)}",
                f"line={d.line}",
                f"col={d.column}",
            ]
            if d.span is not None:
                props += [f"endLine={d.end_line}", f"endColumn={d.end_column}"]
            props.append(f"title={_gh_property(f'{TOOL_NAME} ({d.code})')}")
            out.write(
                f"::{_GITHUB_LEVEL[d.severity]} {','.join(props)}::"
                f"{_gh_data(f'{d.name} {d.message}')}\n"
            )
        out.write("::endgroup::\n")


# -- sarif -----------------------------------------------------------------------------------

_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _sarif_uri(path: str) -> str:
    posix = path.replace("\\", "/")
    if posix.startswith("/"):
        return "file://" + quote(posix, safe="/")
    if len(posix) > 2 and posix[1] == ":" and posix[2] == "/":  # C:/...
        return "file:///" + quote(posix, safe="/:")
    return quote(posix, safe="/")


def _sarif_rule(code: str, slug: str, level: Severity, rule: type[Rule] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": code, "name": slug}
    if rule is not None:
        summary_text = rule.summary() or slug
        entry["shortDescription"] = {"text": summary_text}
        entry["fullDescription"] = {"text": rule.documentation() or summary_text}
        entry["helpUri"] = rule.url()
        entry["help"] = {"text": rule.documentation() or summary_text}
    else:
        entry["shortDescription"] = {"text": slug}
    entry["defaultConfiguration"] = {"level": _SARIF_LEVEL[level]}
    return entry


def sarif_log(diagnostics: Sequence[AnyDiagnostic], rules: Sequence[type[Rule]]) -> dict[str, Any]:
    """The SARIF 2.1.0 log (one run) for ``diagnostics``."""
    sarif_rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for rule in rules:
        if rule.code not in index:
            index[rule.code] = len(sarif_rules)
            sarif_rules.append(_sarif_rule(rule.code, rule.slug, rule.severity, rule))
    for d in diagnostics:  # diagnostics from rules not passed in still get an entry
        if d.code not in index:
            index[d.code] = len(sarif_rules)
            sarif_rules.append(_sarif_rule(d.code, d.slug, d.severity, None))

    results = []
    for d in diagnostics:
        region: dict[str, int] = {"startLine": d.line}
        if d.span is not None:
            region.update(
                startColumn=d.column,
                endLine=max(d.end_line, d.line),
                endColumn=max(d.end_column, 1),
            )
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": _SARIF_LEVEL[d.severity],
            "message": {"text": d.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _sarif_uri(d.path)},
                        "region": region,
                    }
                }
            ],
        }
        if d.fix is not None:
            result["properties"] = {
                "fixApplicability": d.fix.applicability.value,
                "fixMessage": d.fix.message,
            }
        results.append(result)

    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": sarif_rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _render_sarif(
    diagnostics: Sequence[AnyDiagnostic], out: TextIO, rules: Sequence[type[Rule]]
) -> None:
    json.dump(sarif_log(diagnostics, rules), out, indent=2, ensure_ascii=False)
    out.write("\n")


# -- junit -----------------------------------------------------------------------------------


def _render_junit(
    diagnostics: Sequence[AnyDiagnostic],
    out: TextIO,
    *,
    files_checked: int,
    checked_paths: Sequence[str] | None,
) -> None:
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name=TOOL_NAME)
    by_path: dict[str, list[AnyDiagnostic]] = {}
    for d in diagnostics:
        by_path.setdefault(d.path, []).append(d)
    total_tests = total_failures = 0

    for path, items in by_path.items():
        suite = ET.SubElement(root, "testsuite", name=path)
        for d in items:
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"{d.name} at {d.line}:{d.column}",
                classname=path,
                file=path,
                line=str(d.line),
            )
            failure = ET.SubElement(
                case, "failure", message=f"{d.severity.value}: {d.message}", type=d.name
            )
            failure.text = f"{d.path}:{d.line}:{d.column}: {d.severity.value} {d.name} {d.message}"
        _suite_counts(suite, tests=len(items), failures=len(items))
        total_tests += len(items)
        total_failures += len(items)

    if checked_paths is not None:
        for path in sorted(set(checked_paths) - set(by_path)):
            suite = ET.SubElement(root, "testsuite", name=path)
            ET.SubElement(suite, "testcase", name="anima-caption check", classname=path, file=path)
            _suite_counts(suite, tests=1, failures=0)
            total_tests += 1
    else:
        clean = max(0, files_checked - len(by_path))
        if clean or not by_path:
            suite = ET.SubElement(root, "testsuite", name=TOOL_NAME)
            ET.SubElement(
                suite,
                "testcase",
                name=f"{_plural(clean, 'file')} without problems",
                classname=TOOL_NAME,
            )
            _suite_counts(suite, tests=1, failures=0)
            total_tests += 1

    _suite_counts(root, tests=total_tests, failures=total_failures)
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")


def _suite_counts(element: Any, *, tests: int, failures: int) -> None:
    element.set("tests", str(tests))
    element.set("failures", str(failures))
    element.set("errors", "0")
    if element.tag == "testsuite":
        element.set("skipped", "0")


# -- rule listings ---------------------------------------------------------------------------


def format_rules_table(rules: Sequence[type[Rule]]) -> str:
    """The ``anima-caption rules`` table: rule, default severity, fix, summary."""
    rows = [("RULE", "SEVERITY", "FIX", "SUMMARY")]
    for rule in rules:
        fix = rule.fix.value if rule.fix is not None else "-"
        rows.append((rule.name(), rule.severity.value, fix, rule.summary()))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip() for a, b, c, d in rows
    ]
    return "\n".join(lines) + "\n"


def format_rule_doc(rule: type[Rule]) -> str:
    """The ``anima-caption rule CODE`` page: name, severity, fix, link, then the docstring."""
    fix = rule.fix.value if rule.fix is not None else "none"
    header = [
        rule.name(),
        "",
        f"Default severity: {rule.severity.value}",
        f"Fix: {fix}",
        f"Scope: {rule.scope}",
        f"Docs: {rule.url()}",
        "",
    ]
    return "\n".join(header) + rule.documentation().rstrip() + "\n"


def format_rules_json(rules: Sequence[type[Rule]]) -> str:
    """Rule metadata as JSON (for ``anima-caption rules --format json``)."""
    records = [
        {
            "code": rule.code,
            "slug": rule.slug,
            "name": rule.name(),
            "severity": rule.severity.value,
            "fix": rule.fix.value if rule.fix is not None else None,
            "scope": rule.scope,
            "summary": rule.summary(),
            "url": rule.url(),
            "documentation": rule.documentation(),
        }
        for rule in rules
    ]
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


def _write_entry(
    out: TextIO,
    d: AnyDiagnostic,
    text: str | None,
    style: _Style,
    show_fixes: bool,
    unsafe_fixes: bool,
) -> None:
    """One diagnostic of the text format: headline, caret frame (with ``text``), help."""
    out.write(_headline(d, style, unsafe_fixes) + "\n")
    if text is not None and d.span is not None:
        source_line, marker = frame_lines(text, d.span)
        out.write(f"    {source_line}\n    {style.red(marker)}\n")
    help_line = _help_line(d, show_fixes, unsafe_fixes)
    if help_line is not None:
        out.write(f"    {style.cyan(help_line)}\n")
    out.write("\n")
