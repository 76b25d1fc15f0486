"""Issue 15 item 6: brackets nested thousands deep must not crash any command.

Before: ``RecursionError`` tracebacks from 400 levels on, in every command, aborting the
whole run. Now groups deeper than ``MAX_NESTING`` are one error item (``SY001``), the
caption still round-trips, and the other files of the run are processed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import anima_caption
from anima_caption import CaptionSyntaxError, ErrorItem, Group
from anima_caption._scanner import MAX_NESTING
from anima_caption.cli import main


def _nested(depth: int, opener: str = "(", closer: str = ")") -> str:
    return "1girl, " + opener * depth + "smile" + closer * depth + ", solo"


@pytest.mark.parametrize("depth", [400, 5000, 60_000])
@pytest.mark.parametrize("brackets", ["()", "[]", "{}", "(["])
def test_deep_nesting_parses_to_an_error_item_and_round_trips(depth: int, brackets: str) -> None:
    opener, closer = (brackets[0], brackets[1]) if brackets != "([" else ("([", "])")
    text = _nested(depth // len(opener), opener, closer)
    caption = anima_caption.parse(text)
    assert str(caption) == text
    errors = caption.errors
    assert len(errors) == 1
    assert f"nested more than {MAX_NESTING} levels deep" in errors[0].message
    assert [t.text for t in caption.tags] == ["1girl", "solo"]


def test_unclosed_openers_by_the_thousand_do_not_crash() -> None:
    text = "1girl, " + "(" * 50_000 + "smile"
    caption = anima_caption.parse(text)
    assert str(caption) == text
    assert caption.errors


def test_nesting_up_to_the_limit_is_still_groups() -> None:
    text = "(" * MAX_NESTING + "smile" + ")" * MAX_NESTING
    caption = anima_caption.parse(text)
    assert not caption.errors
    item = caption.items[0]
    depth = 0
    while isinstance(item, Group):
        depth += 1
        item = item.items[0]
    assert depth == MAX_NESTING
    deeper = anima_caption.parse("(" + text + ")")
    assert isinstance(deeper.items[0], Group)  # the outer levels are kept as groups
    assert len(deeper.errors) == 1


def test_the_error_message_names_the_limit() -> None:
    caption = anima_caption.parse(_nested(MAX_NESTING + 1))
    (error,) = caption.errors
    assert isinstance(error, ErrorItem)
    assert error.message.startswith(f"brackets nested more than {MAX_NESTING} levels deep")


def test_strict_parse_raises_the_library_error() -> None:
    with pytest.raises(CaptionSyntaxError, match="nested more than"):
        anima_caption.parse(_nested(5000), strict=True)


def test_library_functions_survive_deep_nesting() -> None:
    text = _nested(5000)
    assert anima_caption.fix(text) == anima_caption.fix(anima_caption.fix(text))
    codes = {d.code for d in anima_caption.lint(text)}
    assert "SY001" in codes
    with pytest.raises(CaptionSyntaxError):
        anima_caption.format(text)


def _dataset(root: Path) -> Path:
    root.mkdir()
    (root / "a_deep.txt").write_text(_nested(5000), encoding="utf-8")
    (root / "b_ok.txt").write_text("1girl, long_hair, safe\n", encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["check", "{d}", "--no-cache"], 1),
        (["check", "{d}", "--fix"], 1),
        (["format", "{d}", "--write"], 1),
        (["convert", "{d}", "--from", "sdxl", "--write"], 1),
        (["parse", "{d}/a_deep.txt"], 1),
    ],
)
def test_every_command_reports_the_file_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int
) -> None:
    root = _dataset(tmp_path / "data")
    args = [a.replace("{d}", str(root)) for a in argv]
    if args[0] == "check" and "--no-cache" in args:
        args.remove("--no-cache")
    assert main(args) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "nested more than" in captured.out + captured.err
    if args[0] != "parse":
        # The run was not aborted: the well-formed file was handled too.
        assert (root / "a_deep.txt").read_text(encoding="utf-8") == _nested(5000)
        if "--write" in args or "--fix" in args:
            assert (root / "b_ok.txt").read_bytes() != b"1girl, long_hair, safe\n"


def test_edit_works_around_a_deep_item(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    assert main(["edit", str(root), "--remove", "solo", "--write"]) == 0
    deep = "(" * 5000 + "smile" + ")" * 5000
    assert (root / "a_deep.txt").read_text(encoding="utf-8") == f"1girl, {deep}"
