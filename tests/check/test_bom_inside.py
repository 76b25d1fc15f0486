"""Issue 15 item 10: a U+FEFF after a separator made fixing twice change something.

``fix(',\\ufeff')`` gave ``'\\ufeff'`` (the separator removed, the mark now leading), and
fixing that gave ``''``. A U+FEFF inside the caption is now FL002's too, removed in the
same pass, so the first fix is the last.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anima_caption
from anima_caption.cli import main
from tests.strategies import realistic_caption


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        (",\ufeff", ""),
        ("\ufeff,\ufeff", ""),
        ("1girl,\ufeff smile", "1girl, smile"),
        ("1girl, \ufeff\ufeffsmile", "1girl, smile"),
        ("\ufeff1girl, smile", "1girl, smile"),
    ],
)
def test_a_mark_anywhere_is_removed_in_one_fix(text: str, fixed: str) -> None:
    assert anima_caption.fix(text) == fixed
    assert anima_caption.fix(fixed) == fixed


def test_a_mark_inside_is_reported_where_it_is() -> None:
    found = [d for d in anima_caption.lint("1girl, \ufeffsmile") if d.code == "FL002"]
    assert [(d.line, d.column) for d in found] == [(1, 8)]
    assert "inside the caption" in found[0].message


def test_a_kept_leading_mark_is_given_back() -> None:
    """With FL002 ignored, ``fix`` keeps the file's BOM instead of dropping it silently."""
    assert anima_caption.fix("\ufeff1girl,  smile", ignore=["FL002"]) == "\ufeff1girl, smile"


@settings(max_examples=150)
@given(realistic_caption(), st.lists(st.integers(0, 400), max_size=4), st.booleans())
def test_fixing_twice_changes_nothing_with_marks_anywhere(
    text: str, places: list[int], leading: bool
) -> None:
    for place in sorted(places, reverse=True):
        cut = place % (len(text) + 1)
        text = text[:cut] + "\ufeff" + text[cut:]
    text = ("\ufeff" if leading else "") + text
    once = anima_caption.fix(text)
    assert anima_caption.fix(once) == once


def test_a_file_with_a_mark_after_a_separator_is_fixed_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    caption = tmp_path / "a.txt"
    caption.write_bytes(b"masterpiece, safe, 1girl, solo,\xef\xbb\xbf")
    main(["check", str(tmp_path), "--fix", "--no-progress"])
    fixed = caption.read_bytes()
    assert fixed == b"masterpiece, safe, 1girl, solo"
    capsys.readouterr()
    main(["check", str(tmp_path), "--fix", "--no-progress"])
    assert caption.read_bytes() == fixed
    assert "Fixed" not in capsys.readouterr().out
