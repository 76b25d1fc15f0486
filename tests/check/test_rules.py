"""Every rule against its YAML cases (tests/check/rules/*.yaml), run by one parametrised test.

A case has ``pass_str`` (no finding of the rule) or ``fail_str`` / ``fail_bytes`` (at least
one finding, exactly ``violations`` when given, a ``message`` substring when given), and
optionally ``fix_str``: the text after applying the rule's fixes (unsafe ones too with
``unsafe: true``). Cases with ``db: true`` use the real tag database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from anima_caption._check._config import CheckConfig
from anima_caption._check._configfile import LoadedConfig, RuleSelection
from anima_caption._check._context import CaptionContext
from anima_caption._check._engine import Checker
from anima_caption._check._registry import Rule, all_rules, get_rule
from anima_caption._errors import CaptionDecodeError
from anima_caption._io import decode_caption
from anima_caption._parse import parse
from anima_caption._tagdb import TagDB

CASES_DIR = Path(__file__).parent / "rules"


def _load_cases() -> list[Any]:
    params = []
    for file in sorted(CASES_DIR.glob("*.yaml")):
        data = yaml.safe_load(file.read_text("utf-8"))
        for code, cases in data.items():
            params.extend(pytest.param(code, c, id=f"{code}-{c['name']}") for c in cases)
    return params


CASES = _load_cases()


def _checker(code: str, case: dict[str, Any], db: TagDB | None) -> Checker:
    config = CheckConfig.model_validate(case.get("config", {}))
    loaded = LoadedConfig(config=config, path=None, root=Path.cwd())
    selection = RuleSelection.from_config(config, [code], None)
    return Checker(loaded, db, selection)


def _findings(checker: Checker, code: str, data: bytes) -> list[Any]:
    path = Path("caption.txt")
    ctx = CaptionContext(path=path, display="caption.txt", config=checker.config, db=checker.db)
    try:
        ctx.file = decode_caption(data, path)
    except CaptionDecodeError as error:
        ctx.decode_error = error
    else:
        ctx.caption = parse(ctx.file.text, lookup=checker.lookup, triggers=checker.config.triggers)
    return [d for d in checker.check_caption(ctx) if d.code == code]


@pytest.fixture(scope="module")
def rule_db(request: pytest.FixtureRequest) -> TagDB:
    path: Path = request.getfixturevalue("real_tagdb_path")
    return TagDB.open(path)


@pytest.mark.parametrize(("code", "case"), CASES)
def test_rule_case(code: str, case: dict[str, Any], request: pytest.FixtureRequest) -> None:
    assert get_rule(code) is not None, f"no rule {code}"
    db = request.getfixturevalue("rule_db") if case.get("db") else None
    checker = _checker(code, case, db)
    if "pass_str" in case:
        found = _findings(checker, code, case["pass_str"].encode("utf-8"))
        assert found == [], [d.message for d in found]
        return
    data = case["fail_bytes"] if "fail_bytes" in case else case["fail_str"].encode("utf-8")
    found = _findings(checker, code, data)
    assert found, f"{code} found nothing in {data!r}"
    if "violations" in case:
        assert len(found) == case["violations"], [d.message for d in found]
    if "message" in case:
        assert any(case["message"] in d.message for d in found), [d.message for d in found]
    for diagnostic in found:
        text = data.decode("utf-8", "replace").removeprefix("\ufeff")
        if diagnostic.span is not None:
            start, end = diagnostic.span
            assert 0 <= start <= end <= len(text)
    if "fix_str" in case:
        fixed = checker.fix_text(case["fail_str"], unsafe=bool(case.get("unsafe")))
        assert fixed == case["fix_str"]
        # Fixing the fixed text changes nothing, and the rule is satisfied.
        assert checker.fix_text(fixed, unsafe=bool(case.get("unsafe"))) == fixed
        assert _findings(checker, code, fixed.encode("utf-8")) == []


def test_every_caption_rule_has_pass_and_fail_cases() -> None:
    covered: dict[str, set[str]] = {}
    for param in CASES:
        code, case = param.values
        covered.setdefault(code, set()).update(
            k for k in ("pass_str", "fail_str", "fail_bytes") if k in case
        )
    for rule in all_rules():
        if rule.scope != "caption":
            continue
        kinds = covered.get(rule.code, set())
        assert "pass_str" in kinds, f"{rule.code} has no passing case"
        assert kinds & {"fail_str", "fail_bytes"}, f"{rule.code} has no failing case"


def test_fixable_rules_have_fix_cases() -> None:
    with_fix = {param.values[0] for param in CASES if "fix_str" in param.values[1]}
    for rule in all_rules():
        if rule.fix is not None and rule.fix.value in ("safe", "unsafe") and rule.code != "FL002":
            assert rule.code in with_fix, f"{rule.code} has a fix but no fix_str case"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_documentation_has_the_sections(rule: type[Rule]) -> None:
    doc = rule.documentation()
    for section in ("What it does:", "Why:", "Example:", "Fix safety:"):
        assert section in doc, f"{rule.code} docstring lacks {section!r}"
    assert rule.summary() and not rule.summary().endswith(":")
