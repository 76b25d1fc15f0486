"""``docs/rules.md``: generated from the docstrings, current, and every link into it lands.

A diagnostic's ``url``, SARIF's ``helpUri``, ``rules --format json`` and ``rule CODE`` all
link ``docs/rules.md#<anchor>``; GitHub makes a heading's anchor by lowercasing it,
dropping punctuation other than ``-`` and ``_`` and turning spaces into ``-`` (a repeated
heading gets ``-1``, ``-2`` …). The test reads the anchors from the page's headings that
way, so a renamed rule or a heading format that GitHub anchors differently fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from anima_caption._check._diagnostic import DOCS_URL
from anima_caption._check._docs import RULES_MD, main, render
from anima_caption._check._registry import all_rules
from anima_caption.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "kanachan"
PAGE_URL = DOCS_URL.split("#", 1)[0]
LINK = re.compile(re.escape(PAGE_URL) + r"#([^\s\"'<>)]*)")


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the page's headings (github-slugger's rules)."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"#{1,6} +(.*?) *#* *$", line)
        if fenced or match is None:
            continue
        text = re.sub(r"[`*_]{1,2}(.+?)[`*_]{1,2}", r"\1", match.group(1))  # inline markup
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


ANCHORS = github_anchors(RULES_MD.read_text(encoding="utf-8"))


def test_the_slugger_follows_github() -> None:
    assert github_anchors("### SF001 missing-safety-tag") == {"sf001-missing-safety-tag"}
    assert github_anchors("## TC — training cross-checks") == {"tc--training-cross-checks"}
    assert github_anchors("### convert: alias\n### convert: alias") == {
        "convert-alias",
        "convert-alias-1",
    }
    assert github_anchors("### TG005/unknown-tag") == {"tg005unknown-tag"}  # why not '/'


def test_rules_md_is_current() -> None:
    """Fails when a docstring (or a code, slug, severity, cross-check or convert rule)
    changed and ``python -m anima_caption._check._docs`` was not run."""
    assert RULES_MD.read_text(encoding="utf-8") == render(), (
        "docs/rules.md is stale: run python -m anima_caption._check._docs"
    )
    assert main(["--check"]) == 0


def test_check_mode_sees_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "rules.md"
    stale.write_text(render().replace("What it does", "What it did", 1), encoding="utf-8")
    assert main(["--check", "--out", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert main(["--out", str(stale)]) == 0 and main(["--check", "--out", str(stale)]) == 0


def test_every_rule_has_its_section_with_its_docstring() -> None:
    text = RULES_MD.read_text(encoding="utf-8")
    for rule in all_rules():
        anchor = rule.url().split("#", 1)[1]
        assert anchor in ANCHORS, rule.code
        assert rule.documentation().rstrip() in text, rule.code


def test_training_and_retired_codes_have_anchors() -> None:
    from anima_caption.training._checks import CHECKS, RETIRED

    for code, (slug, *_) in {**CHECKS, **RETIRED}.items():
        assert f"{code.lower()}-{slug}" in ANCHORS, code
    assert "retired-codes" in ANCHORS  # docs/training.md links it


def test_links_inside_docs_land(tmp_path: Path) -> None:
    """Every ``rules.md#…`` link in the docs and README, and the page's own ``(#…)``
    links, name an anchor of the page."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        fragments = re.findall(r"\(rules\.md#([^)\s]+)\)", text)
        if path == RULES_MD:
            fragments += re.findall(r"\]\(#([^)\s]+)\)", text)
        for fragment in fragments:
            assert fragment in ANCHORS, f"{path.name}: #{fragment}"


def _emitted(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    cli_main(list(argv))
    out = capsys.readouterr().out
    return LINK.findall(out)


def test_every_url_the_outputs_emit_lands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Observed, not derived: the links in what ``check`` (json, sarif), ``rules`` and
    ``rule`` print over a dataset that breaks rules of every family."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text(
        "\ufeffMasterpiece, rating_safe, year 2024, score_9_up, (long_hair:1.2), long_hair, "
        "BREAK, 1girl,, \\(cosplay\\) ,\nsmile,",
        encoding="utf-8",
    )
    (data / "b.png").write_bytes(b"")
    (data / "c.txt").write_bytes(b"caf\xe9")
    (data / "d.txt").write_text("", encoding="utf-8")
    args = ("check", str(data), str(EXAMPLES), "--trigger", "kanachan", "--exit-zero")
    fragments = _emitted(capsys, *args, "--format", "json")
    sarif = _emitted(capsys, *args, "--format", "sarif")
    codes = {f.split("-", 1)[0] for f in fragments}
    assert {"fl001", "fl002", "fl004", "tg001", "ps001", "sf006", "ds001", "nl003"} <= codes
    assert set(fragments) <= set(sarif)  # SARIF's helpUri of every rule that fired
    fragments += sarif
    fragments += _emitted(capsys, "rules", "--format", "json")
    for rule in all_rules():
        fragments += _emitted(capsys, "rule", rule.code)
    assert len(set(fragments)) >= len(all_rules())
    missing = sorted(set(fragments) - ANCHORS)
    assert not missing, missing


def test_json_url_field_is_the_rule_link(capsys: pytest.CaptureFixture[str]) -> None:
    cli_main(["check", str(EXAMPLES), "--trigger", "kanachan", "--format", "json", "--exit-zero"])
    records = json.loads(capsys.readouterr().out)
    records = records["diagnostics"] if isinstance(records, dict) else records
    assert records
    for record in records:
        assert record["url"] == f"{PAGE_URL}#{record['code'].lower()}-{record['slug']}"
