"""``anima-caption check`` end to end: real files on disk, the real CLI, the real database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings

from anima_caption._check._config import CheckConfig
from anima_caption._check._configfile import LoadedConfig, RuleSelection
from anima_caption._check._engine import Checker
from anima_caption.cli import main
from tests.conftest import EXAMPLES
from tests.strategies import realistic_caption

# Captions taken from the seed article (the kanachan LoRA), including its mistakes.
SEED = {
    "kanachan_angry.txt": (
        "masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, A close-up portrait "
        "of a young girl with an angry expression and a slight frown looking directly at the "
        "viewer. Her bound hair with a blue scrunchie is visible on the right side of the "
        "image, and a small antenna of hair rises from the top of her head. brown eyes, left "
        "side ponytail, ahoge, brown hair, double parted bangs, medium hair, blue scrunchie, "
        "angry, frown, looking at viewer, portrait, bare shoulders, white background, simple "
        "background"
    ),
    "kanachan_blazer_angry.txt": (
        "masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, A girl in a reddish "
        "brown school blazer glares at the viewer. Her side ponytail is visible on the right "
        "side of the image. side ponytail, ahoge, reddish brown blazer, angry, front view, "
        "white background"
    ),
    "kanachan_bikini.txt": "kanachan, 1girl, solo, nude, from behind, white background",
    "kanachan_nude.txt": (
        "kanachan, 1girl, solo, bikini, pink bikini, from behind, white background"
    ),
}


@pytest.fixture
def seed_dataset(tmp_path: Path) -> Path:
    for name, text in SEED.items():
        (tmp_path / name).write_text(text + "\n", encoding="utf-8")
    return tmp_path


@pytest.fixture
def db_path(real_tagdb_path: Path) -> str:
    return str(real_tagdb_path)


def _json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    out = capsys.readouterr().out
    data = json.loads(out)
    assert isinstance(data, list)
    return data


def test_seed_captions_report_the_articles_findings(
    seed_dataset: Path, db_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["check", str(seed_dataset), "--db", db_path, "--format", "json", "--trigger", "kanachan"]
    )
    assert code == 1
    found = _json(capsys)
    for item in found:
        assert {"path", "line", "column", "code", "severity", "message"} <= set(item)
    unknown = {
        str(d["message"]).split("'")[1]: str(d["message"]) for d in found if d["code"] == "TG005"
    }
    assert "did you mean 'side ponytail'" in unknown["left side ponytail"]
    assert "did you mean 'double-parted bangs'" in unknown["double parted bangs"]
    assert "did you mean 'straight-on'" in unknown["front view"]
    assert "reddish brown blazer" in unknown
    swapped = [d for d in found if d["code"] == "DS006"]
    assert {Path(str(d["path"])).name for d in swapped} == {
        "kanachan_bikini.txt",
        "kanachan_nude.txt",
    }
    assert any(d["code"] == "NL002" and "bound hair" in str(d["message"]) for d in found)
    positions = {(d["code"], d["line"], d["column"]) for d in found if d["code"] == "TG005"}
    angry = SEED["kanachan_angry.txt"]
    assert ("TG005", 1, angry.index("left side ponytail") + 1) in positions


def test_clean_dataset_exits_0(
    tmp_path: Path, db_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text(
        "masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, A girl smiles at the "
        "viewer. Her side ponytail is on the right side of the image. side ponytail, ahoge, "
        "double-parted bangs, smile, white background\n"
    )
    (tmp_path / "b.txt").write_text(
        "masterpiece, best quality, score_7, sensitive, 1girl, solo, kanachan, side ponytail, "
        "ahoge, from behind, looking back, beach\n"
    )
    assert main(["check", str(tmp_path), "--db", db_path, "--trigger", "kanachan"]) == 0
    assert "All checks passed!" in capsys.readouterr().out


def test_examples_fix_then_check_is_idempotent(
    tmp_path: Path, db_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "examples"
    shutil.copytree(EXAMPLES, dataset)
    assert main(["check", str(dataset), "--db", db_path, "--fix"]) == 1
    first = {p: p.read_bytes() for p in dataset.rglob("*.txt")}
    wd14 = (dataset / "sdxl" / "wd14_tagger_001.txt").read_text()
    assert "long hair" in wd14 and "long_hair" not in wd14
    capsys.readouterr()
    main(["check", str(dataset), "--db", db_path, "--fix"])
    assert {p: p.read_bytes() for p in dataset.rglob("*.txt")} == first


def test_diff_shows_fixes_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbf1girl, long_hair, , smile,\n")
    assert main(["check", str(path), "--diff", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "-1girl, long_hair, , smile," in out and "+1girl, long hair, smile" in out
    assert "byte-order mark removed" in out
    assert path.read_bytes() == b"\xef\xbb\xbf1girl, long_hair, , smile,\n"
    assert main(["check", str(path), "--fix"]) in (0, 1)
    assert path.read_bytes() == b"1girl, long hair, smile\n"


def test_fix_keeps_a_journal_that_undo_restores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --fix` writes through the backup journal; `anima-caption undo` puts every
    byte back, and refuses a file edited since the fix."""
    dataset = tmp_path / "data"
    (dataset / "sub").mkdir(parents=True)
    originals = {
        dataset / "a.txt": b"\xef\xbb\xbf1girl, long_hair, , smile,\r\n",
        dataset / "sub" / "b.txt": b"1girl, Blue_Eyes\n",
        dataset / "clean.txt": b"safe, 1girl, smile\n",
    }
    for path, data in originals.items():
        path.write_bytes(data)
    assert main(["check", str(dataset), "--fix", "--no-progress", "--exit-zero"]) == 0
    err = capsys.readouterr().err
    assert "fixed 2 files" in err and f"undo {dataset.resolve()}" in err
    assert (dataset / "a.txt").read_bytes().startswith(b"1girl, long hair, smile")
    assert (dataset / "sub" / "b.txt").read_bytes() == b"1girl, blue eyes\n"
    assert (dataset / "clean.txt").read_bytes() == originals[dataset / "clean.txt"]

    assert main(["undo", str(dataset)]) == 0
    for path, data in originals.items():
        assert path.read_bytes() == data, path

    # Fix again, then edit one file by hand: undo restores the other and refuses it.
    main(["check", str(dataset), "--fix", "--no-progress", "--exit-zero"])
    (dataset / "sub" / "b.txt").write_bytes(b"1girl, hand edit\n")
    assert main(["undo", str(dataset)]) != 0
    assert (dataset / "a.txt").read_bytes() == originals[dataset / "a.txt"]
    assert (dataset / "sub" / "b.txt").read_bytes() == b"1girl, hand edit\n"


def test_unsafe_fixes_need_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("general, 1girl, (smile:1.2)")
    main(["check", str(path), "--fix"])
    assert path.read_text() == "general, 1girl, (smile:1.2)"
    main(["check", str(path), "--fix", "--unsafe-fixes"])
    assert path.read_text() == "safe, 1girl, smile"


def test_undecodable_file_is_reported_and_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"1girl, sm\xe9ile")
    assert main(["check", str(tmp_path), "--fix", "--format", "json"]) == 1
    found = _json(capsys)
    assert [d["code"] for d in found] == ["FL001"]
    assert "invalid UTF-8" in str(found[0]["message"])
    assert path.read_bytes() == b"1girl, sm\xe9ile"


def test_select_ignore_and_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.txt"
    path.write_text("1girl, long_hair, general")
    assert main(["check", str(path), "--select", "SF", "--format", "json"]) == 1
    assert {d["code"] for d in _json(capsys)} == {"SF003"}
    assert main(["check", str(path), "--ignore", "TG001,SF003", "--format", "json"]) == 0
    assert main(["check", str(path), "--exit-zero"]) == 0
    capsys.readouterr()
    assert main(["check", str(path), "--select", "XX999"]) == 2
    assert "XX999" in capsys.readouterr().err


def test_config_file_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "anima-caption.yaml").write_text(
        "triggers: [kanachan]\nseverity:\n  TG001: 'off'\n"
    )
    (tmp_path / "a.txt").write_text("safe, 1girl, long_hair")
    assert main(["check", str(tmp_path), "--format", "json"]) == 1
    codes = {d["code"] for d in _json(capsys)}
    assert "TR001" in codes and "TG001" not in codes


def test_bad_config_is_exit_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "anima-caption.yaml").write_text("triggers: [kanachan]\nselct: [TG]\n")
    (tmp_path / "a.txt").write_text("safe, 1girl")
    assert main(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "anima-caption.yaml:2" in err and "selct" in err and "Traceback" not in err


def test_rules_and_rule_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    listing = capsys.readouterr().out
    assert "TG005" in listing and "unknown-tag" in listing and "DS006" in listing
    assert main(["rule", "unknown-tag"]) == 0
    doc = capsys.readouterr().out
    assert "What it does" in doc and "left side ponytail" in doc
    assert main(["rule", "ZZ000"]) == 2


def test_missing_image_and_caption_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG")
    (tmp_path / "a.txt").write_text("safe, 1girl")
    (tmp_path / "b.png").write_bytes(b"\x89PNG")
    (tmp_path / "c.txt").write_text("safe, 1boy")
    main(["check", str(tmp_path), "--select", "DS", "--format", "json"])
    found = {(Path(str(d["path"])).name, d["code"]) for d in _json(capsys)}
    assert found == {("b.png", "DS001"), ("c.txt", "DS002")}


def test_duplicate_captions_and_spelling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("safe, 1girl, smile, double-parted bangs")
    (tmp_path / "b.txt").write_text("safe, 1girl, Smile, double-parted bangs")
    (tmp_path / "c.txt").write_text("safe, 1girl, double parted bangs")
    main(["check", str(tmp_path), "--select", "DS", "--format", "json"])
    found = {(Path(str(d["path"])).name, d["code"]) for d in _json(capsys)}
    assert ("b.txt", "DS003") in found
    assert ("c.txt", "DS004") in found
    assert ("a.txt", "DS004") not in found


def test_inferred_trigger_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(4):
        (tmp_path / f"{i}.txt").write_text(f"safe, 1girl, kanachan, pose{i}")
    (tmp_path / "4.txt").write_text("safe, 1girl, smile")
    main(["check", str(tmp_path), "--select", "DS005", "--format", "json"])
    found = _json(capsys)
    assert [Path(str(d["path"])).name for d in found] == ["4.txt"]
    assert "kanachan" in str(found[0]["message"])


def _checker() -> Checker:
    config = CheckConfig()
    return Checker(
        LoadedConfig(config=config, path=None, root=Path.cwd()),
        None,
        RuleSelection.from_config(config, None, None),
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(realistic_caption())
def test_fixing_twice_changes_nothing(text: str) -> None:
    checker = _checker()
    for unsafe in (False, True):
        once = checker.fix_text(text, unsafe=unsafe)
        assert checker.fix_text(once, unsafe=unsafe) == once


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(realistic_caption())
# With spaces this tag would read as a sentence ending at "!" and another tag.
@example(text="ye-pop\nLove_Live!_Nijigasaki_High_School_Idol_Club")
def test_safe_fixes_keep_the_tag_meaning(text: str) -> None:
    """Safe fixes only re-spell tags (case, underscores, escapes) and drop exact duplicates."""
    import anima_caption

    checker = _checker()
    fixed = checker.fix_text(text)
    before = {t.text for t in anima_caption.parse(text).tags}
    after = {t.text for t in anima_caption.parse(fixed).tags}
    assert after == before


def test_diagnostics_equal_their_validated_form(seed_dataset: Path, db_path: str) -> None:
    """Rules build diagnostics without re-validation; prove they are what validation builds."""
    from anima_caption._check._configfile import config_for
    from anima_caption._check._diagnostic import Diagnostic
    from anima_caption._tagdb import TagDB

    loaded = config_for(seed_dataset, None)
    checker = Checker(
        loaded, TagDB.open(db_path), RuleSelection.from_config(loaded.config, None, None)
    )
    result = checker.run([str(seed_dataset)])
    assert len(result.diagnostics) > 10
    for diagnostic in result.diagnostics:
        assert Diagnostic.model_validate(diagnostic.model_dump()) == diagnostic


def test_worker_processes_give_the_same_stable_output(tmp_path: Path, db_path: str) -> None:
    from anima_caption._check._configfile import config_for
    from anima_caption._tagdb import TagDB

    for i in range(40):
        (tmp_path / f"{i:03d}.txt").write_text(
            f"1girl, long_hair, left side ponytail, general, pose {i % 7}\n"
        )
    loaded = config_for(tmp_path, None)
    checker = Checker(
        loaded, TagDB.open(db_path), RuleSelection.from_config(loaded.config, None, None)
    )
    serial = checker.run([str(tmp_path)], jobs=1)
    parallel = checker.run([str(tmp_path)], jobs=2)
    assert len(serial.diagnostics) > 80
    assert parallel.diagnostics == serial.diagnostics
    fixed_serial = checker.run([str(tmp_path)], jobs=1, fix=True, write=False)
    fixed_parallel = checker.run([str(tmp_path)], jobs=2, fix=True, write=False)
    assert fixed_parallel.diffs == fixed_serial.diffs and len(fixed_serial.diffs) == 40


def test_worker_processes_agree_on_a_varied_dataset(tmp_path: Path, db_path: str) -> None:
    """Workers send each tag's summary once and then refer to it by spelling; with many
    chunks, both workers and tags shared between them, the dataset rules must see exactly
    what a serial run sees (spelling variants, trigger candidates, swapped file names)."""
    import random

    from anima_caption._check._configfile import config_for
    from anima_caption._tagdb import TagDB

    rng = random.Random(7)
    pool = [
        "twin tails",
        "twintails",
        "twin-tails",
        "long_hair",
        "Long Hair",
        "bikini",
        "nude",
        "kanachan",
        "smile",
        "^_^",
        "left side ponytail",
        "general",
        "(smile:1.2)",
        "score_8_up",
        "blue scrunchie",
        "scrunchie",
        "ganyu \\(genshin impact\\)",
    ]
    for i in range(300):
        tags = rng.sample(pool, rng.randint(3, 9))
        name = rng.choice(["kanachan_bikini", "kanachan_nude", "img"])
        sep = rng.choice([", ", ",\n"])
        (tmp_path / f"{name}_{i:03d}.txt").write_text(sep.join(tags) + "\n", encoding="utf-8")
    (tmp_path / "broken.txt").write_bytes(b"\xff\xfe\x00bad")
    loaded = config_for(tmp_path, None)
    checker = Checker(
        loaded, TagDB.open(db_path), RuleSelection.from_config(loaded.config, None, None)
    )
    serial = checker.run([str(tmp_path)], jobs=1)
    parallel = checker.run([str(tmp_path)], jobs=2)
    assert {r.code for r in serial.records} >= {"TG001", "TG005", "DS004", "DS006", "FL001"}
    assert parallel.records == serial.records
    assert parallel.sources == serial.sources
