"""The small stable API: load_policy, Policy queries, classify."""

from __future__ import annotations

from pathlib import Path

import pytest

from anima_caption import parse
from anima_caption._errors import UsageError
from anima_caption._policy import Policy, classify, load_policy

KANACHAN_POLICY = """\
triggers:
  kanachan:
    core: [hair-colour, eye-colour]
    structural: [side ponytail, ahoge, double-parted bangs, medium hair, blue scrunchie]
    variable: [attire, expression, pose, composition, background]
    directional:
      - tag: side ponytail
        side: left
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(KANACHAN_POLICY, encoding="utf-8")
    return path


def test_load_standalone_policy(policy_file: Path) -> None:
    policy = load_policy(policy_file)
    assert isinstance(policy, Policy)
    assert policy.trigger_names() == ("kanachan",)
    assert policy.has_directional_attributes()
    absorbed = policy.absorbed_tags("kanachan")
    assert {"brown hair", "brown eyes", "two-tone hair", "heterochromia"} <= absorbed
    assert "side ponytail" not in absorbed
    assert policy.absorbed_tags() == absorbed


def test_load_policy_section_of_config_inline_and_by_path(tmp_path: Path) -> None:
    inline = tmp_path / "anima-caption.yaml"
    body = "".join("  " + line + "\n" for line in KANACHAN_POLICY.splitlines())
    inline.write_text("triggers: [kanachan]\npolicy:\n" + body, encoding="utf-8")
    assert load_policy(inline).trigger_names() == ("kanachan",)

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "kanachan-policy.yaml").write_text(KANACHAN_POLICY, encoding="utf-8")
    by_path = tmp_path / "sub" / ".anima-caption.yaml"
    by_path.write_text("policy: kanachan-policy.yaml\n", encoding="utf-8")
    assert load_policy(by_path).has_directional_attributes()


def test_load_policy_from_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[tool.anima-caption]\ntriggers = ["kanachan"]\n\n'
        "[tool.anima-caption.policy.triggers.kanachan]\n"
        'core = ["hair-colour"]\nstructural = ["side ponytail"]\n',
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert "brown eyes" not in policy.absorbed_tags()
    assert "brown hair" in policy.absorbed_tags()


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            "triggers:\n  kanachan:\n    cores: [hair-colour]\n",
            3,
            "unknown key 'triggers.kanachan.cores' (did you mean 'core'?)",
        ),
        (
            "triggers:\n  kanachan:\n    core: [hair-colur]\n",
            3,
            "unknown group 'hair-colur' (did you mean 'hair-colour'?)",
        ),
        (
            "triggers:\n  kanachan:\n    directional:\n      - tag: side ponytail\n"
            "        side: up\n",
            5,
            "invalid value for 'triggers.kanachan.directional[0].side'",
        ),
        ("triggers: {}\n", 1, "triggers"),
        ("triggers:\n  kanachan: [\n", 3, "invalid YAML"),
        ("- a\n- b\n", 1, "expected a mapping"),
    ],
)
def test_policy_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_policy(path)
    message = str(info.value)
    assert f"bad.yaml:{line}:" in message, message
    assert fragment in message
    assert "\n" not in message


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")
    config = tmp_path / "anima-caption.yaml"
    config.write_text("policy: missing.yaml\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"anima-caption.yaml:1: policy file 'missing.yaml'"):
        load_policy(config)


def test_classify_the_seed_caption(policy_file: Path, examples_dir: Path) -> None:
    policy = load_policy(policy_file)
    text = (examples_dir / "kanachan" / "kanachan_nude.txt").read_text(encoding="utf-8")
    result = classify(parse(text, triggers=["kanachan"]), policy)
    assert result.trigger == "kanachan"
    assert [t.name for t in result.core] == ["brown eyes", "brown hair"]
    assert [t.name for t in result.structural] == [
        "side ponytail",
        "ahoge",
        "medium hair",
        "blue scrunchie",
    ]
    assert {t.name for t in result.variable} == {"bikini", "pink bikini", "from behind", "beach"}
    # The non-existent spelling is not the structural tag; prefix and trigger are "other".
    assert result.role_of("double parted bangs") == "other"
    assert result.role_of("kanachan") == "other"
    assert result.role_of("masterpiece") == "other"
    groups = result.by_group()
    assert groups["hair-colour"][0].name == "brown hair"
    assert [t.name for t in groups["attire"]] == ["bikini", "pink bikini"]


def test_listed_tag_beats_group_and_defaults_apply(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "triggers:\n  kanachan:\n    structural: [hairstyle]\n"
        "    variable: [ponytail, expression]\n"
        "groups:\n  props: [umbrella, bag]\n",
        encoding="utf-8",
    )
    policy = load_policy(path)
    caption = parse("1girl, kanachan, ponytail, twintails, red eyes, umbrella, smile")
    result = classify(caption, policy)
    assert result.role_of("ponytail") == "variable"  # listed tag beats its group
    assert result.role_of("twintails") == "structural"
    assert result.role_of("red eyes") == "core"  # unset core = default hair/eye colour
    assert result.role_of("smile") == "variable"  # a group listed under variable
    assert result.role_of("umbrella") == "other"  # declared group, not used by a role
    assert result.by_group()["props"][0].name == "umbrella"


def test_trigger_selection_and_subsets(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "triggers:\n  kanachan: {core: [hair-colour]}\n  other chan: {core: [eye-colour]}\n"
        "subsets:\n  - path: chibi\n    triggers:\n      kanachan: {core: []}\n",
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.trigger_names() == ("kanachan", "other chan")
    caption = parse("1girl, other chan, brown hair, brown eyes")
    assert classify(caption, policy).trigger == "other chan"
    assert [t.name for t in classify(caption, policy).core] == ["brown eyes"]
    assert [t.name for t in classify(caption, policy, "kanachan").core] == ["brown hair"]
    assert classify(caption, policy, "kanachan", folder="chibi/sub").core == ()
    nobody = classify(parse("1girl, brown hair"), policy)
    assert nobody.trigger is None and nobody.core == ()
    assert nobody.by_group()["hair-colour"][0].name == "brown hair"
    with pytest.raises(KeyError):
        classify(caption, policy, "nobody")
