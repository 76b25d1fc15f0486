"""The scripting API: ``anima_caption.lint`` and ``anima_caption.fix``."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import anima_caption
from anima_caption._check import _api


def test_lint_returns_sorted_diagnostics_with_positions() -> None:
    found = anima_caption.lint("1girl, long_hair, general")
    assert [d.name for d in found] == ["TG001/underscore-in-tag", "SF003/rating-word"]
    assert (found[0].line, found[0].column) == (1, 8)


def test_lint_config_mapping_and_selection() -> None:
    found = anima_caption.lint("safe, 1girl", config={"triggers": ["kanachan"]})
    assert [d.code for d in found] == ["TR001"]
    assert anima_caption.lint("1girl, long_hair, general", select=["SF"])[0].code == "SF003"
    assert anima_caption.lint("1girl, long_hair", ignore=["TG001", "SF001"]) == []
    with pytest.raises(anima_caption.UsageError):
        anima_caption.lint("1girl", select=["NOPE1"])


def test_lint_with_the_real_database(real_tagdb_path: Path) -> None:
    db = anima_caption.TagDB.open(real_tagdb_path)
    found = anima_caption.lint("safe, 1girl, left side ponytail, twin tails", db=db)
    codes = {d.code: d for d in found}
    assert "did you mean 'side ponytail'" in codes["TG005"].message
    assert codes["TG006"].fix is not None
    assert (
        anima_caption.fix("safe, 1girl, twin tails", db=db, unsafe=True) == "safe, 1girl, twintails"
    )


def test_fix_safe_and_unsafe() -> None:
    assert anima_caption.fix("1girl, long_hair, , smile,") == "1girl, long hair, smile"
    assert anima_caption.fix("general, (smile:1.2)") == "general, (smile:1.2)"
    assert anima_caption.fix("general, (smile:1.2)", unsafe=True) == "safe, smile"


def test_docstring_examples_run() -> None:
    results = doctest.testmod(_api)
    assert results.attempted >= 2 and results.failed == 0
