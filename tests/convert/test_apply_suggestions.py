"""``convert --apply-suggestions`` (issue 14 item 5) on the full real Danbooru database.

A non-existent tag is replaced by its first suggestion only when the database is confident
of it (``TagDB.applicable_suggestion``: confidence >= APPLY_THRESHOLD); each replacement is
a change of rule ``suggestion`` carrying the suggestion's reason, listed before the file's
diff, and written through the journal like every convert write.
"""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import pytest

from anima_caption import convert
from anima_caption._convert._convert import Converter
from anima_caption._tagdb import TagDB
from anima_caption._tagdb._suggest import APPLY_THRESHOLD
from anima_caption.cli import main
from tests.conftest import EXAMPLES

CAPTION = "safe, 1girl, left side ponytail, double parted bangs, smile, front view\n"


@pytest.fixture(scope="module")
def db(real_tagdb_path: Path) -> TagDB:
    return TagDB.open(real_tagdb_path)


def _suggested(result: object) -> list[tuple[str, str, str]]:
    return [(c.old, c.new, c.message) for c in result.changes if c.rule == "suggestion"]  # type: ignore[attr-defined]


# -- the library -------------------------------------------------------------------------


def test_confident_suggestions_are_written_with_their_reason(db: TagDB) -> None:
    result = Converter(db, apply_suggestions=True).convert(CAPTION)
    assert result.text == "safe, 1girl, side ponytail, double-parted bangs, smile, front view\n"
    applied = {old: (new, why) for old, new, why in _suggested(result)}
    assert set(applied) == {"left side ponytail", "double parted bangs"}
    assert applied["left side ponytail"][0] == "side ponytail"
    assert 'direction words such as "left"' in applied["left side ponytail"][1]
    assert "punctuation" in applied["double parted bangs"][1]
    # `front view` has two answers (straight-on / facing viewer): the user's choice
    assert result.unknown == ("front view",)


def test_every_applied_suggestion_is_one_the_database_is_confident_of(db: TagDB) -> None:
    captions = [
        CAPTION,
        "1girl, plaid, cat ear, thighhigh, x hairclip, ear fluff, black sailor uniform",
        "1boy, fair skin, female child, semi-long hair, reddish brown blazer, kanachan",
    ]
    converter = Converter(db, apply_suggestions=True)
    seen = 0
    for caption in captions:
        for old, new, _ in _suggested(converter.convert(caption)):
            seen += 1
            found = db.applicable_suggestion(old)
            assert found is not None and found.confidence >= APPLY_THRESHOLD, old
            assert new == found.tag
    assert seen >= 4
    # what is not confident stays as written
    kept = converter.convert(captions[2]).text
    assert "semi-long hair" in kept and "reddish brown blazer" in kept
    # a rare near spelling (6 posts) is more likely the dataset's own name: never applied
    assert "kanachan" in kept and "kana-chan" not in kept


def test_without_the_option_nothing_is_replaced(db: TagDB) -> None:
    result = Converter(db).convert(CAPTION)
    assert not _suggested(result)
    assert "left side ponytail" in result.text
    assert set(result.unknown) == {"left side ponytail", "double parted bangs", "front view"}
    assert convert(CAPTION, db=db).text == result.text
    assert convert(CAPTION, db=db, apply_suggestions=True).text != result.text


def test_the_rest_of_the_caption_counts(db: TagDB) -> None:
    converter = Converter(db, apply_suggestions=True)
    # the caption already says it: the weaker spelling goes, nothing is written twice
    result = converter.convert("1girl, left side ponytail, side ponytail, smile")
    assert result.text == "1girl, side ponytail, smile"
    assert [(old, new) for old, new, _ in _suggested(result)] == [("left side ponytail", "")]
    # two spellings with one answer: written once
    result = converter.convert("1girl, left side ponytail, right side ponytail")
    assert result.text == "1girl, side ponytail"


def test_the_replacement_is_converted_like_any_tag(db: TagDB) -> None:
    converter = Converter(db, apply_suggestions=True, triggers=["kanachan"])
    result = converter.convert("kanachan, left_side_ponytail, 1girl")
    assert result.text == "1girl, kanachan, side ponytail"  # sections in order
    assert "side ponytail" not in result.unknown


def test_applying_twice_changes_nothing(db: TagDB) -> None:
    converter = Converter(db, apply_suggestions=True)
    for caption in (CAPTION, "1girl, plaid, cat ear, thighhigh, x hairclip, ear fluff"):
        once = converter.convert(caption)
        again = converter.convert(once.text)
        assert again.text == once.text
        assert not _suggested(again)


def test_a_pickled_converter_keeps_the_option(db: TagDB) -> None:
    converter = pickle.loads(pickle.dumps(Converter(db, apply_suggestions=True)))
    assert converter.apply_suggestions
    assert "side ponytail, double-parted bangs" in converter.convert(CAPTION).text


def test_without_a_database_the_option_does_nothing() -> None:
    converter = Converter(None, apply_suggestions=True)
    assert not converter.apply_suggestions
    assert "left side ponytail" in converter.convert(CAPTION).text


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def kanachan(tmp_path: Path) -> Path:
    root = tmp_path / "kanachan"
    shutil.copytree(EXAMPLES / "kanachan", root)
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".anima-caption" not in p.parts
    }


def test_dry_run_lists_each_suggestion_with_its_reason_before_the_diff(
    kanachan: Path, real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(kanachan)
    argv = ["convert", str(kanachan), "--from", "sdxl", "--trigger", "kanachan"]
    code = main([*argv, "--apply-suggestions", "--db", str(real_tagdb_path)])
    out, err = capsys.readouterr()
    assert code == 0
    assert _snapshot(kanachan) == before  # a dry run writes nothing
    lines = out.splitlines()
    bikini = kanachan / "kanachan_bikini.txt"
    note = next(i for i, line in enumerate(lines) if line.startswith(f"# {bikini}:"))
    assert re.fullmatch(
        rf"# {re.escape(str(bikini))}:1:\d+: suggestion: 'left side ponytail' → "
        r"'side ponytail' \(direction words .*\)",
        lines[note],
    )
    assert lines[note + 1].startswith("--- ")  # right before the file's diff
    assert any(
        line.startswith("+") and " side ponytail, ahoge, brown hair" in line for line in lines
    )
    nude = f"# {kanachan / 'kanachan_nude.txt'}:1:"
    assert any(
        line.startswith(nude) and "'double parted bangs' → 'double-parted bangs'" in line
        for line in lines
    )
    assert "suggestion 2" in err
    # without the option the same run lists no suggestion and keeps the tags
    main([*argv, "--db", str(real_tagdb_path)])
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.startswith("# ")]
    assert "+" + "side ponytail" not in out


def test_write_is_journaled_and_undone(
    kanachan: Path, real_tagdb_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(kanachan)
    argv = ["convert", str(kanachan), "--from", "sdxl", "--trigger", "kanachan"]
    apply = ["--apply-suggestions", "--db", str(real_tagdb_path)]
    assert main([*argv, *apply, "--write", "--quiet"]) == 0
    err = capsys.readouterr().err
    # written without a diff: what was applied still goes to stderr, with the reason
    applied = [line for line in err.splitlines() if line.startswith("anima-caption: applied")]
    assert len(applied) == 2 and all("suggestion: '" in line for line in applied)
    text = (kanachan / "kanachan_bikini.txt").read_text(encoding="utf-8")
    assert "left side ponytail" not in text and " side ponytail, ahoge, brown hair" in text
    assert "double-parted bangs" in (kanachan / "kanachan_nude.txt").read_text(encoding="utf-8")
    assert main([*argv, *apply, "--check"]) == 0  # converting again changes nothing
    capsys.readouterr()
    assert main(["undo", str(kanachan), "--list"]) == 0
    assert "--apply-suggestions" in capsys.readouterr().out  # the journal says how
    assert main(["undo", str(kanachan)]) == 0
    assert _snapshot(kanachan) == before


def test_without_a_database_the_option_is_a_usage_error(kanachan: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such.sqlite"
    argv = ["convert", str(kanachan), "--from", "sdxl", "--apply-suggestions"]
    assert main([*argv, "--db", str(missing)]) == 2


def test_help_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    out = capsys.readouterr().out
    assert "--apply-suggestions" in out and "0.9" in out and "suggestion" in out
