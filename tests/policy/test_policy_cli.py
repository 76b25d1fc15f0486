"""`policy report` / `policy apply` and the PL rules, through the real CLI on real files.

Reproduces the seed's story (issue 5, "Done when").
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from anima_caption.cli import main
from tests.conftest import EXAMPLES

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
KANACHAN_POLICY = EXAMPLES / "kanachan-policy.yaml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def kanachan(tmp_path: Path) -> Path:
    """A copy of the example dataset (captions and images) with the seed's mistakes."""
    target = tmp_path / "kanachan"
    shutil.copytree(EXAMPLES / "kanachan", target)
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.txt"))}


# -- the report against a hand-counted fixture ------------------------------------------------


def test_report_numbers_match_the_hand_count(capsys: pytest.CaptureFixture[str]) -> None:
    folder = DATA / "counted"
    code, out, _ = run(
        ["policy", "report", str(folder), "--policy", str(folder / "policy.yaml"),
         "--format", "json"],
        capsys,
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["captions"] == 4
    (kanachan,) = report["triggers"]
    assert kanachan["trigger"] == "kanachan"
    assert kanachan["captions"] == 4
    counted = {
        g["group"]: {t["tag"]: (t["role"], t["count"], t["share"]) for t in g["tags"]}
        for g in kanachan["groups"]
    }
    # Counted by hand from a.txt … d.txt.
    assert counted == {
        "hair-colour": {"brown hair": ("core", 2, 0.5)},
        "eye-colour": {"brown eyes": ("core", 1, 0.25)},
        "hairstyle": {"ahoge": ("structural", 4, 1.0), "side ponytail": ("structural", 3, 0.75)},
        "attire": {"bikini": ("variable", 1, 0.25), "school uniform": ("variable", 1, 0.25)},
        "expression": {"smile": ("variable", 3, 0.75), "angry": ("variable", 1, 0.25)},
        "background": {"white background": ("variable", 4, 1.0)},
    }
    roles = {g["group"]: g["role"] for g in kanachan["groups"]}
    assert roles["hair-colour"] == "core" and roles["hairstyle"] is None
    assert roles["background"] == "variable"
    leaks = {tag: [Path(p).name for p in paths] for tag, paths in kanachan["leaks"].items()}
    assert leaks == {"brown eyes": ["d.txt"], "brown hair": ["a.txt", "d.txt"]}
    assert [(g["tag"], g["present"], [Path(p).name for p in g["missing"]])
            for g in kanachan["structural_gaps"]] == [("side ponytail", 3, ["c.txt"])]  # fmt: skip
    assert kanachan["constant_groups"] == [{"group": "background", "tags": ["white background"]}]
    assert kanachan["conflicts"] == []
    assert kanachan["flip_augmentation"] == "ok"


def test_report_text(capsys: pytest.CaptureFixture[str]) -> None:
    folder = DATA / "counted"
    code, out, _ = run(
        ["policy", "report", str(folder), "--policy", str(folder / "policy.yaml")], capsys
    )
    assert code == 0
    assert "kanachan: 4 caption(s)" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["side", "ponytail", "structural", "3", "75%"] in lines
    assert "variable group 'background' never varies: always white background" in out


# -- the seed's story -------------------------------------------------------------------------


def test_seed_story_leaks_are_reported_and_removed(
    kanachan: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = kanachan / "anima-caption.yaml"
    config.write_text(f"policy: {KANACHAN_POLICY}\n", encoding="utf-8")

    # 1. check reports brown hair / brown eyes as core leaks (and the other PL findings).
    code, out, _ = run(["check", str(kanachan), "--format", "json", "--select", "PL"], capsys)
    assert code == 1
    found = [(Path(d["path"]).name, d["code"], d["message"]) for d in json.loads(out)]
    leaks = sorted((name, msg.split("'")[1]) for name, code_, msg in found if code_ == "PL001")
    assert leaks == [
        ("kanachan_bikini.txt", "brown hair"),
        ("kanachan_nude.txt", "brown eyes"),
        ("kanachan_nude.txt", "brown hair"),
    ]
    # side ponytail missing from a caption (it says the non-existent `left side ponytail`)
    assert any(
        name == "kanachan_bikini.txt" and c == "PL002" and "'side ponytail'" in m
        for name, c, m in found
    )
    # the nude caption says "right side of the image" while tagged `from behind`
    assert [(n, c) for n, c, _ in found if c == "PL005"] == [("kanachan_nude.txt", "PL005")]
    assert any(c == "PL007" for _, c, _ in found)

    # 2. apply: a dry run shows the diff and changes nothing.
    before = snapshot(kanachan)
    code, out, err = run(["policy", "apply", str(kanachan)], capsys)
    assert code == 0  # a dry run is not a failure (issue 15 item 13), like the other dry runs
    assert "-masterpiece" in out and "brown hair" in out
    assert "2 caption(s) would change: 3 absorbed tag(s) removed" in err
    assert snapshot(kanachan) == before

    # 3. --write removes them, atomically and journaled; nothing else changes.
    code, _, err = run(["policy", "apply", str(kanachan), "--write"], capsys)
    assert code == 0, err
    after = snapshot(kanachan)
    assert b"brown hair" not in after["kanachan_bikini.txt"]
    assert b"brown eyes" not in after["kanachan_nude.txt"]
    assert after["kanachan_bikini.txt"] == before["kanachan_bikini.txt"].replace(
        b"brown hair, ", b""
    )
    assert {k for k in after if after[k] != before[k]} == {
        "kanachan_bikini.txt",
        "kanachan_nude.txt",
    }
    assert (kanachan / ".anima-caption" / "journal").is_dir()
    code, out, _ = run(["check", str(kanachan), "--format", "json", "--select", "PL001"], capsys)
    assert code == 0 and json.loads(out) == []
    # applying again changes nothing
    code, out, _ = run(["policy", "apply", str(kanachan)], capsys)
    assert code == 0 and out == ""

    # 4. undo puts every byte back.
    from anima_caption._journal import undo

    undo(kanachan)
    assert snapshot(kanachan) == before


def test_front_view_saying_left_side_is_reported_and_fixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    caption = folder / "front.txt"
    caption.write_text(
        "masterpiece, safe, 1girl, solo, kanachan, A girl looking at the viewer. Her side "
        "ponytail with a blue scrunchie is visible on the left side of the image. side "
        "ponytail, ahoge, portrait, looking at viewer\n",
        encoding="utf-8",
    )
    (folder / "anima-caption.yaml").write_text(f"policy: {KANACHAN_POLICY}\n", encoding="utf-8")
    code, out, _ = run(["check", str(folder), "--format", "json", "--select", "PL005"], capsys)
    assert code == 1
    (diag,) = json.loads(out)
    assert diag["code"] == "PL005" and diag["line"] == 1
    assert "'visible on the left side of the image' contradicts the front view" in diag["message"]
    # `policy apply --directional` writes the phrase the view asks for.
    code, _, _ = run(["policy", "apply", str(folder), "--directional", "--write"], capsys)
    assert code == 0
    assert "is visible on the right side of the image." in caption.read_text(encoding="utf-8")
    code, out, _ = run(["check", str(folder), "--format", "json", "--select", "PL005"], capsys)
    assert code == 0


def test_report_on_the_example_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["policy", "report", str(EXAMPLES / "kanachan"), "--policy", str(KANACHAN_POLICY),
         "--format", "json"],
        capsys,
    )  # fmt: skip
    assert code == 0
    (kanachan,) = json.loads(out)["triggers"]
    assert kanachan["captions"] == 6
    assert sorted(kanachan["leaks"]) == ["brown eyes", "brown hair"]
    (side,) = kanachan["directional"]
    assert side["tag"] == "side ponytail" and side["side"] == "left"
    assert [Path(p).name for p in side["contradictions"]] == ["kanachan_nude.txt"]
    assert kanachan["flip_augmentation"] == "off"


# -- safety and errors ------------------------------------------------------------------------


def test_apply_leaves_undecodable_files_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    good = folder / "good.txt"
    good.write_text("1girl, kanachan, brown hair, smile", encoding="utf-8")
    bad = folder / "bad.txt"
    bad.write_bytes(b"1girl, kanachan, brown hair, caf\xe9")
    policy = DATA / "counted" / "policy.yaml"
    code, _, err = run(["policy", "apply", str(folder), "--policy", str(policy), "--write"], capsys)
    assert code == 1
    assert "bad.txt" in err and "left untouched" in err
    assert bad.read_bytes() == b"1girl, kanachan, brown hair, caf\xe9"
    assert good.read_text(encoding="utf-8") == "1girl, kanachan, smile"


def test_apply_keeps_bom_and_line_ends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    path = folder / "a.txt"
    path.write_bytes(b"\xef\xbb\xbf1girl, kanachan, blue eyes, smile\r\n")
    policy = DATA / "counted" / "policy.yaml"
    assert main(["policy", "apply", str(folder), "--policy", str(policy), "--write"]) == 0
    assert path.read_bytes() == b"\xef\xbb\xbf1girl, kanachan, smile\r\n"


def test_no_policy_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.txt").write_text("1girl", encoding="utf-8")
    code, _, err = run(["policy", "report", str(tmp_path)], capsys)
    assert code == 2
    assert "no policy" in err and "--policy" in err and "Traceback" not in err


def test_bad_policy_file_is_a_usage_error_with_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("triggers:\n  kanachan:\n    core: [hair-colour]\n    varible: []\n", "utf-8")
    code, _, err = run(["policy", "report", str(tmp_path), "--policy", str(bad)], capsys)
    assert code == 2
    assert "policy.yaml:4: unknown key 'triggers.kanachan.varible'" in err
    assert "did you mean 'variable'" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_inline_policy_in_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("1girl, kanachan", encoding="utf-8")
    (tmp_path / "anima-caption.yaml").write_text(
        "triggers: [kanachan]\npolicy:\n  triggers:\n    kanachan:\n      core: [hair-colur]\n",
        encoding="utf-8",
    )
    code, _, err = run(["check", str(tmp_path)], capsys)
    assert code == 2
    assert "anima-caption.yaml:5: unknown group 'hair-colur'" in err


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    for sub in ("report", "apply"):
        with pytest.raises(SystemExit) as info:
            main(["policy", sub, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out and "anima-caption policy" in out


# -- the published schema ---------------------------------------------------------------------


def test_committed_policy_schema_is_up_to_date() -> None:
    from anima_caption._policy._load import policy_json_schema

    committed = json.loads((REPO / "docs" / "schema" / "policy.schema.json").read_text("utf-8"))
    assert committed == policy_json_schema(), (
        "regenerate: python -m anima_caption._policy._load > docs/schema/policy.schema.json"
    )


def test_schema_accepts_the_example_policy_and_rejects_typos() -> None:
    import jsonschema
    import yaml

    from anima_caption._policy._load import policy_json_schema

    schema = policy_json_schema()
    example = yaml.safe_load(KANACHAN_POLICY.read_text(encoding="utf-8"))
    jsonschema.validate(example, schema)
    example["triggers"]["kanachan"]["cores"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(example, schema)
