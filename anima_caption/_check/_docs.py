"""``docs/rules.md``, generated from the rule docstrings (a rule's docstring is its docs).

Every diagnostic carries a link to its rule's section (:func:`rule_url`: ``…/docs/rules.md#
tg005-unknown-tag``), and SARIF's ``helpUri`` is the same link; the headings here are made
so that GitHub's anchor of each is exactly that fragment. The page also lists the training
cross-checks (``anima-caption train``), the codes retired in favour of another, and the
change rules ``convert`` names.

Regenerate after changing a docstring (a test fails until then)::

    python -m anima_caption._check._docs            # writes docs/rules.md
    python -m anima_caption._check._docs --check    # exit 1 when docs/rules.md is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from anima_caption._check._registry import Rule, all_rules

#: Where the page lives in the source tree (the links of ``DOCS_URL`` point at it).
RULES_MD = Path(__file__).resolve().parents[2] / "docs" / "rules.md"

#: The rule families, in the order the page shows them.
FAMILIES: dict[str, str] = {
    "FL": "file",
    "SY": "syntax",
    "WS": "separators and whitespace",
    "TG": "tags",
    "PS": "prompt syntax",
    "SF": "safety, score, quality and year vocabulary",
    "OR": "section order",
    "NL": "natural language and length",
    "TR": "trigger and required prefix",
    "DS": "dataset",
    "PL": "policy",
}

_HEADER = """\
<!-- Generated from the rule docstrings by `python -m anima_caption._check._docs`.
     Do not edit: change the docstring and regenerate (a test fails until then). -->

# Rules

Every rule `anima-caption check` knows, one section per rule: what it does, why, an
example and how safe its fix is. The same text is shown by `anima-caption rule CODE`;
severities can be changed per code, slug or family in the configuration (`severity:`),
and files or codes ignored with `per-file-ignores` (never with comments in captions).
Fix safety: `safe` fixes keep the caption's meaning and are applied by `--fix`; `unsafe`
ones change the training signal and need `--unsafe-fixes`; `display-only` ones are shown
as suggestions and never applied.
"""


def heading(code: str, slug: str) -> str:
    """The section heading of a rule: GitHub makes ``code-slug`` (lowercase) its anchor."""
    return f"### {code} {slug}"


def _rule_section(rule: type[Rule]) -> str:
    fix = rule.fix.value if rule.fix is not None else "none"
    meta = f"Default severity: `{rule.severity.value}` · Fix: `{fix}` · Scope: {rule.scope}"
    return f"{heading(rule.code, rule.slug)}\n\n{meta}\n\n{rule.documentation().rstrip()}\n"


def _index(rules: list[type[Rule]]) -> str:
    rows = ["| Rule | Severity | Fix | Summary |", "| --- | --- | --- | --- |"]
    for rule in rules:
        anchor = f"{rule.code.lower()}-{rule.slug}"
        fix = rule.fix.value if rule.fix is not None else "-"
        summary = rule.summary().replace("|", "\\|")
        rows.append(
            f"| [{rule.code}/{rule.slug}](#{anchor}) | {rule.severity.value} | {fix} | {summary} |"
        )
    return "\n".join(rows) + "\n"


def _training_sections() -> str:
    from anima_caption.training._checks import CHECKS, RETIRED, SHARED

    parts = [
        "## TC — training cross-checks\n",
        "Reported by `anima-caption train` (see [training.md](training.md)): the captions "
        "against the planned trainer settings. Errors stop `train` unless `--force`.\n",
    ]
    for code, (slug, summary) in sorted(CHECKS.items()):
        parts.append(f"{heading(code, slug)}\n\n{summary[0].upper()}{summary[1:]}.\n")
    shared = ", ".join(f"[{code}](#{code.lower()}-{slug})" for code, slug in sorted(SHARED.items()))
    parts.append(
        f"`train` also reports {shared} under the `check` rules' codes, with what they cost "
        "on the chosen trainer.\n"
    )
    parts.append("## Retired codes\n")
    parts.append(
        "Codes are never reused. These were duplicates of a `check` rule and are reported "
        "under that rule's code now; a link or a search for the old code lands here.\n"
    )
    for code, (slug, now) in sorted(RETIRED.items()):
        target = f"{now}/{SHARED[now]}"
        anchor = f"{now.lower()}-{SHARED[now]}"
        parts.append(f"{heading(code, slug)}\n\nRetired: now reported as [{target}](#{anchor}).\n")
    return "\n".join(parts)


def _convert_section() -> str:
    from anima_caption._convert._tables import RULES

    parts = [
        "## Conversion changes\n",
        "The change rules `anima-caption convert` names for each change it makes (they have "
        "no codes and no severities; [convert.md](convert.md) shows each with an example).\n",
    ]
    for name, text in RULES.items():
        parts.append(f"### convert: {name}\n\n{text[0].upper()}{text[1:]}.\n")
    return "\n".join(parts)


def render() -> str:
    """The text of ``docs/rules.md``."""
    rules = all_rules()
    parts = [_HEADER, _index(rules)]
    for family, title in FAMILIES.items():
        members = [r for r in rules if r.family() == family]
        if not members:
            continue
        parts.append(f"## {family} — {title}\n")
        parts.extend(_rule_section(r) for r in members)
    unknown = sorted({r.family() for r in rules} - FAMILIES.keys())
    if unknown:
        raise RuntimeError(f"rule families without a title in FAMILIES: {', '.join(unknown)}")
    parts.append(_training_sections())
    parts.append(_convert_section())
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Write ``docs/rules.md`` (or, with ``--check``, exit 1 when it is stale)."""
    parser = argparse.ArgumentParser(prog="python -m anima_caption._check._docs")
    parser.add_argument("--check", action="store_true", help="only say whether it is stale")
    parser.add_argument("--out", type=Path, default=RULES_MD)
    args = parser.parse_args(argv)
    text = render()
    out: Path = args.out
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{out} is stale: run python -m anima_caption._check._docs", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8", newline="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
