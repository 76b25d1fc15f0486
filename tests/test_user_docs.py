"""Issue 15 item 14: the documentation users get cites no SPEC they do not have, and the
exit codes are in a user document.

README, docs/, every ``--help`` text, and the package's docstrings and comments once said
"SPEC §7" and the like: the project's internal notes, not shipped. They now point at
docs/ (docs/ci.md holds the exit codes of every command).
"""

from __future__ import annotations

import re

from tests.conftest import REPO
from tests.test_examples_exist import _help_texts

_SPEC = re.compile(r"\bSPEC\b|SPEC\.md|SPEC §")


def test_no_user_facing_text_cites_the_spec() -> None:
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    files += sorted((REPO / "anima_caption").rglob("*.py"))
    files += sorted((REPO / "anima_caption").rglob("*.yaml"))
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _SPEC.search(line)
    ]
    found += [f"{name} --help" for name, text in _help_texts().items() if _SPEC.search(text)]
    assert not found, found


def test_the_exit_codes_are_in_a_user_document() -> None:
    ci = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    section = ci.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 130 |"):
        assert code in section
    assert "docs/ci.md#exit-codes" in (REPO / "README.md").read_text(encoding="utf-8")
