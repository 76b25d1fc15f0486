"""Config discovery, loading, error messages, rule selection and per-file ignores."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from anima_caption._check._config import CheckConfig
from anima_caption._check._configfile import (
    LoadedConfig,
    RuleSelection,
    _Glob,
    config_for,
    config_json_schema,
    find_config,
    ignored_for,
    is_excluded,
    load_config,
)
from anima_caption._check._diagnostic import Applicability, Severity
from anima_caption._check._registry import _REGISTRY, Rule
from anima_caption._errors import UsageError

REPO = Path(__file__).resolve().parents[2]


def make_rule(code: str, slug: str, severity: Severity = Severity.WARNING) -> type[Rule]:
    """A placeholder rule that is *not* added to the global registry."""
    cls = type(f"Rule{code}", (Rule,), {"__doc__": f"Placeholder {slug}.", "slug": slug})
    cls.code = code  # set after creation so __init_subclass__ does not register it
    cls.severity = severity
    cls.fix = Applicability.SAFE
    assert code not in _REGISTRY
    return cls


TG001 = make_rule("TG001", "underscore-in-tag", Severity.ERROR)
TG005 = make_rule("TG005", "unknown-tag")
TG012 = make_rule("TG012", "uppercase-tag")
WS001 = make_rule("WS001", "surrounding-whitespace", Severity.ERROR)
DS001 = make_rule("DS001", "image-without-caption")
RULES = [TG001, TG005, TG012, WS001, DS001]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def selection(
    config: CheckConfig | None = None,
    select: list[str] | None = None,
    ignore: list[str] | None = None,
) -> RuleSelection:
    return RuleSelection.from_config(config or CheckConfig(), select, ignore, rules=RULES)


def enabled_codes(sel: RuleSelection) -> list[str]:
    return [rule.code for rule in RULES if sel.enabled(rule)]


# -- discovery -------------------------------------------------------------------------------


def test_closest_config_wins(tmp_path: Path) -> None:
    outer = write(tmp_path / "anima-caption.yaml", "select: [TG]\n")
    inner = write(tmp_path / "dataset" / "char" / "anima-caption.yaml", "select: [WS]\n")
    (tmp_path / "dataset" / "char" / "sub").mkdir()
    (tmp_path / "dataset" / "other").mkdir()
    assert find_config(tmp_path / "dataset" / "char" / "sub") == inner
    assert find_config(tmp_path / "dataset" / "other") == outer
    # No merging: the inner file's settings alone.
    loaded = config_for(tmp_path / "dataset" / "char", None)
    assert loaded.config.select == ["WS"]
    assert loaded.root == inner.parent


def test_start_may_be_a_file(tmp_path: Path) -> None:
    config = write(tmp_path / "anima-caption.yaml", "")
    caption = write(tmp_path / "a.txt", "1girl\n")
    assert find_config(caption) == config


def test_yaml_beats_pyproject_in_the_same_directory(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.anima-caption]\nselect = ["TG"]\n')
    yaml_file = write(tmp_path / "anima-caption.yaml", "select: [WS]\n")
    assert find_config(tmp_path) == yaml_file
    hidden = write(tmp_path / ".anima-caption.yaml", "select: [DS]\n")
    assert find_config(tmp_path) == hidden


def test_pyproject_without_table_is_skipped(tmp_path: Path) -> None:
    outer = write(tmp_path / "pyproject.toml", '[tool.anima-caption]\nselect = ["TG"]\n')
    write(tmp_path / "project" / "pyproject.toml", "[tool.ruff]\nline-length = 100\n")
    assert find_config(tmp_path / "project") == outer
    assert config_for(tmp_path / "project", None).config.select == ["TG"]


def test_pyproject_mentioning_the_name_elsewhere_is_skipped(tmp_path: Path) -> None:
    outer = write(tmp_path / "anima-caption.yaml", "")
    write(
        tmp_path / "p" / "pyproject.toml",
        '[project]\nname = "x"\ndependencies = ["anima-caption"]\n',
    )
    assert find_config(tmp_path / "p") == outer


def test_no_config_gives_defaults_rooted_at_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = config_for(tmp_path, None)
    if loaded.path is not None:  # pragma: no cover - depends on the machine
        pytest.skip(f"a config above the temporary directory: {loaded.path}")
    assert loaded.config == CheckConfig()
    assert loaded.root == tmp_path


def test_explicit_config_overrides_discovery(tmp_path: Path) -> None:
    write(tmp_path / "anima-caption.yaml", "select: [TG]\n")
    other = write(tmp_path / "ci" / "strict.yaml", "select: [WS]\n")
    loaded = config_for(tmp_path, str(other))
    assert loaded.path == other
    assert loaded.config.select == ["WS"]
    assert loaded.root == other.parent


def test_explicit_toml_without_table_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.ruff]\n")
    with pytest.raises(UsageError, match=r"no \[tool.anima-caption\] table"):
        config_for(tmp_path, str(path))


def test_missing_explicit_config(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="config file not found") as info:
        config_for(tmp_path, str(tmp_path / "nope.yaml"))
    assert info.value.exit_code == 2


# -- loading ---------------------------------------------------------------------------------

FULL_YAML = """\
select: [ALL]
ignore: [TG012]
severity:
  TG005: error
  DS: "off"
per-file-ignores:
  "dataset/nsfw/**": [TG001]
exclude: [drafts/]
triggers: [kanachan]
require-trigger: false
known-tags: [my private tag]
phrases:
  bound hair: ambiguous
required-prefix: [masterpiece]
max-tokens: 256
caption-extensions: [.txt, .caption]
image-extensions: [.png]
"""

FULL_TOML = """\
[project]
name = "my-dataset"

[tool.anima-caption]
select = ["ALL"]
ignore = ["TG012"]
exclude = ["drafts/"]
triggers = ["kanachan"]
require-trigger = false
known-tags = ["my private tag"]
required-prefix = ["masterpiece"]
max-tokens = 256
caption-extensions = [".txt", ".caption"]
image-extensions = [".png"]

[tool.anima-caption.severity]
TG005 = "error"
DS = "off"

[tool.anima-caption.per-file-ignores]
"dataset/nsfw/**" = ["TG001"]

[tool.anima-caption.phrases]
"bound hair" = "ambiguous"
"""


@pytest.mark.parametrize(
    ("name", "text"), [("anima-caption.yaml", FULL_YAML), ("pyproject.toml", FULL_TOML)]
)
def test_every_setting_loads(tmp_path: Path, name: str, text: str) -> None:
    loaded = load_config(write(tmp_path / name, text))
    config = loaded.config
    assert config.ignore == ["TG012"]
    assert config.severity == {"TG005": "error", "DS": "off"}
    assert config.per_file_ignores == {"dataset/nsfw/**": ["TG001"]}
    assert config.exclude == ["drafts/"]
    assert config.triggers == ["kanachan"]
    assert config.require_trigger is False
    assert config.known_tags == ["my private tag"]
    assert config.phrases == {"bound hair": "ambiguous"}
    assert config.required_prefix == ["masterpiece"]
    assert config.max_tokens == 256
    assert config.caption_extensions == [".txt", ".caption"]
    assert config.image_extensions == [".png"]
    assert loaded.root == tmp_path


def test_yaml_off_is_a_string_not_false(tmp_path: Path) -> None:
    path = write(tmp_path / "anima-caption.yaml", "severity:\n  DS: off\nrequire-trigger: no\n")
    loaded = load_config(path)
    assert loaded.config.severity == {"DS": "off"}
    assert loaded.config.require_trigger is False  # pydantic reads the string 'no' as false


def test_empty_yaml_is_the_defaults(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "anima-caption.yaml", "# nothing yet\n"))
    assert loaded.config == CheckConfig()


def test_docs_example_covers_every_setting() -> None:
    """docs/ci.md shows every setting, in YAML and in pyproject.toml."""
    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    for name, info in CheckConfig.model_fields.items():
        key = info.alias or name
        assert (
            text.count(f"\n{key}:")
            + text.count(f"\n{key} =")
            + text.count(f"[tool.anima-caption.{key}]")
            >= 2
        ), key


# -- errors with file:line -------------------------------------------------------------------


def error_of(path: Path) -> str:
    with pytest.raises(UsageError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_yaml_key_names_file_line_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path / "anima-caption.yaml", "# comment\nselect: [TG]\nselct: [WS]\n")
    message = error_of(path)
    assert message.endswith(
        "anima-caption.yaml:3: unknown setting 'selct' (did you mean 'select'?)"
    )


def test_unknown_key_suggests_the_kebab_name(tmp_path: Path) -> None:
    path = write(tmp_path / "anima-caption.yaml", "per_file_ignore: {}\n")
    assert "(did you mean 'per-file-ignores'?)" in error_of(path)


def test_unknown_toml_key_names_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.anima-caption]\nselect = ["TG"]\nignroe = ["TG005"]\n',
    )
    assert error_of(path).endswith(
        "pyproject.toml:6: unknown setting 'ignroe' (did you mean 'ignore'?)"
    )


def test_bad_type_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "anima-caption.yaml", "select: [TG]\nmax-tokens: lots\n")
    message = error_of(path)
    assert "anima-caption.yaml:2: invalid value for 'max-tokens'" in message
    assert "valid integer" in message
    assert "'lots'" in message


def test_bad_nested_value_yaml_points_at_the_item(tmp_path: Path) -> None:
    path = write(
        tmp_path / "anima-caption.yaml",
        "severity:\n  TG005: error\n  WS: loud\n"
        "per-file-ignores:\n  'a/**':\n    - TG001\n    - 3\n",
    )
    message = error_of(path)
    assert "anima-caption.yaml:3: invalid value for 'severity.WS'" in message
    assert "'error', 'warning', 'info' or 'off'" in message
    assert "(and 1 more problem)" in message


def test_bad_list_item_line(tmp_path: Path) -> None:
    path = write(tmp_path / "anima-caption.yaml", "triggers:\n  - kanachan\n  - [nested]\n")
    assert "anima-caption.yaml:3: invalid value for 'triggers.1'" in error_of(path)


def test_bad_type_toml_subtable(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[tool.anima-caption]\nselect = ["TG"]\n\n[tool.anima-caption.severity]\nTG005 = 3\n',
    )
    assert "pyproject.toml:5: invalid value for 'severity.TG005'" in error_of(path)


def test_malformed_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "anima-caption.yaml", "select: [TG]\nignore: [WS]\n  bad: indent\n")
    message = error_of(path)
    assert "anima-caption.yaml:3: invalid YAML: expected <block end>" in message


def test_malformed_toml(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[tool.anima-caption]\nselect = ["TG"\nx = 1\n')
    message = error_of(path)
    assert "invalid TOML" in message
    assert "pyproject.toml:3:" in message


def test_malformed_pyproject_with_our_table_is_reported_during_discovery(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.anima-caption]\nselect = [\n")
    with pytest.raises(UsageError, match="invalid TOML"):
        find_config(tmp_path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "anima-caption.yaml", "- TG005\n")
    assert "anima-caption.yaml:1: expected a mapping of settings, got a list" in error_of(path)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path / "anima-caption.yaml", "select: [TG]\nignore: []\nselect: [WS]\n")
    assert "anima-caption.yaml:3: duplicate setting 'select'" in error_of(path)


def test_error_path_is_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "sub" / "anima-caption.yaml", "selct: []\n")
    monkeypatch.chdir(tmp_path)
    assert error_of(Path("sub/anima-caption.yaml")).startswith("sub/anima-caption.yaml:1: ")


# -- rule selection --------------------------------------------------------------------------


def test_default_selects_all_at_default_severity() -> None:
    sel = selection()
    assert enabled_codes(sel) == ["TG001", "TG005", "TG012", "WS001", "DS001"]
    assert sel.severity_of(TG001) is Severity.ERROR
    assert sel.severity_of(TG005) is Severity.WARNING


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        (["TG005"], ["TG005"]),
        (["unknown-tag"], ["TG005"]),
        (["TG005/unknown-tag"], ["TG005"]),
        (["tg005"], ["TG005"]),
        (["TG"], ["TG001", "TG005", "TG012"]),
        (["TG0"], ["TG001", "TG005", "TG012"]),
        (["TG00"], ["TG001", "TG005"]),
        (["TG01"], ["TG012"]),
        (["ALL"], ["TG001", "TG005", "TG012", "WS001", "DS001"]),
        (["WS", "DS001"], ["WS001", "DS001"]),
        ([], []),
    ],
)
def test_select_forms(selectors: list[str], expected: list[str]) -> None:
    assert enabled_codes(selection(CheckConfig(select=selectors))) == expected


def test_specific_ignore_beats_general_select() -> None:
    config = CheckConfig(select=["TG"], ignore=["TG005"])
    assert enabled_codes(selection(config)) == ["TG001", "TG012"]


def test_specific_select_beats_general_ignore() -> None:
    config = CheckConfig(select=["ALL", "TG005"], ignore=["TG"])
    assert enabled_codes(selection(config)) == ["TG005", "WS001", "DS001"]
    config = CheckConfig(select=["TG001"], ignore=["TG0"])
    assert enabled_codes(selection(config)) == ["TG001"]


def test_equal_specificity_ignore_wins() -> None:
    config = CheckConfig(select=["TG005"], ignore=["unknown-tag"])
    assert enabled_codes(selection(config)) == []


def test_cli_select_replaces_config_selection() -> None:
    config = CheckConfig(select=["WS"], ignore=["TG005"])
    assert enabled_codes(selection(config, select=["TG"])) == ["TG001", "TG005", "TG012"]


def test_cli_ignore_beats_config_select_even_if_less_specific() -> None:
    config = CheckConfig(select=["TG005", "WS001"])
    assert enabled_codes(selection(config, ignore=["TG"])) == ["WS001"]


def test_cli_select_and_ignore_together() -> None:
    sel = selection(CheckConfig(select=["DS"]), select=["TG", "WS001"], ignore=["TG001"])
    assert enabled_codes(sel) == ["TG005", "TG012", "WS001"]


def test_severity_overrides_specific_over_general() -> None:
    config = CheckConfig(
        severity={"TG": "info", "unknown-tag": "error", "WS001/surrounding-whitespace": "warning"}
    )
    sel = selection(config)
    assert sel.severity_of(TG001) is Severity.INFO
    assert sel.severity_of(TG012) is Severity.INFO
    assert sel.severity_of(TG005) is Severity.ERROR
    assert sel.severity_of(WS001) is Severity.WARNING
    assert sel.severity_of(DS001) is Severity.WARNING


def test_severity_off_disables() -> None:
    sel = selection(CheckConfig(severity={"TG": "off", "TG005": "warning"}))
    assert enabled_codes(sel) == ["TG005", "WS001", "DS001"]
    assert sel.severity_of(TG001) is None
    assert sel.severity_of(TG005) is Severity.WARNING


def test_unselected_rule_has_no_severity() -> None:
    sel = selection(CheckConfig(select=["WS"], severity={"TG005": "error"}))
    assert sel.severity_of(TG005) is None
    assert not sel.enabled(TG005)


def test_unknown_selectors_are_named() -> None:
    with pytest.raises(UsageError) as info:
        selection(CheckConfig(select=["TG", "TG999"], ignore=["unknwn-tag"]))
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "unknown rule selector 'TG999' in 'select'" in message
    assert "unknown rule selector 'unknwn-tag' in 'ignore' (did you mean 'unknown-tag'?)" in message


def test_unknown_cli_selector_names_option() -> None:
    with pytest.raises(UsageError, match=r"unknown rule selector 'XX' in --select"):
        selection(select=["XX"])
    with pytest.raises(UsageError, match=r"unknown rule selector 'TG005/wrong-slug' in --ignore"):
        selection(ignore=["TG005/wrong-slug"])


def test_unknown_selector_from_file_names_file_and_line(tmp_path: Path) -> None:
    loaded = load_config(
        write(tmp_path / "anima-caption.yaml", "select:\n  - TG\n  - TG500\nseverity:\n  ZZ: off\n")
    )
    with pytest.raises(UsageError) as info:
        RuleSelection.from_config(loaded.config, None, None, rules=RULES, loaded=loaded)
    message = str(info.value)
    assert "anima-caption.yaml:3: unknown rule selector 'TG500' in 'select'" in message
    assert "anima-caption.yaml:5: unknown rule selector 'ZZ' in 'severity'" in message


# -- per-file ignores and excludes -----------------------------------------------------------


def loaded_with(tmp_path: Path, **settings: object) -> LoadedConfig:
    return LoadedConfig(
        config=CheckConfig.model_validate(settings), path=tmp_path / "x.yaml", root=tmp_path
    )


def test_per_file_ignores_globs(tmp_path: Path) -> None:
    loaded = loaded_with(
        tmp_path,
        **{
            "per-file-ignores": {
                "dataset/nsfw/**": ["TG001"],
                "*.caption": ["unknown-tag"],
                "**/drafts/*.txt": ["WS"],
                "raw/": ["DS001"],
            }
        },
    )

    def ignored(rel: str) -> list[str]:
        return sorted(ignored_for(tmp_path / rel, loaded, rules=RULES))

    assert ignored("dataset/nsfw/a.txt") == ["TG001"]
    assert ignored("dataset/nsfw/deep/er/a.txt") == ["TG001"]
    assert ignored("dataset/sfw/a.txt") == []
    assert ignored("other/dataset/nsfw/a.txt") == []  # anchored at the root
    assert ignored("x/y/a.caption") == ["TG005"]  # name pattern: any depth
    assert ignored("drafts/a.txt") == ["WS001"]  # '**/' matches zero folders
    assert ignored("a/b/drafts/a.txt") == ["WS001"]
    assert ignored("a/b/drafts/sub/a.txt") == []  # '*' stays inside one folder
    assert ignored("raw/a.txt") == ["DS001"]
    assert ignored("x/raw/a.txt") == ["DS001"]
    assert ignored("raw") == []  # trailing '/' matches folders only
    assert ignored("dataset/nsfw/b.caption") == ["TG001", "TG005"]


def test_per_file_ignores_relative_paths_are_from_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = loaded_with(tmp_path, **{"per-file-ignores": {"data/*.txt": ["TG"]}})
    monkeypatch.chdir(tmp_path / ".")
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path / "data")
    assert ignored_for(Path("a.txt"), loaded, rules=RULES) == {"TG001", "TG005", "TG012"}
    assert ignored_for(Path("../data/b.txt"), loaded, rules=RULES) == {"TG001", "TG005", "TG012"}


def test_per_file_ignores_outside_root(tmp_path: Path) -> None:
    loaded = loaded_with(
        tmp_path / "project", **{"per-file-ignores": {"a/*.txt": ["TG"], "*.caption": ["WS"]}}
    )
    assert ignored_for(tmp_path / "elsewhere" / "a" / "x.txt", loaded, rules=RULES) == frozenset()
    assert ignored_for(tmp_path / "elsewhere" / "x.caption", loaded, rules=RULES) == {"WS001"}


def test_per_file_ignores_unknown_selector(tmp_path: Path) -> None:
    loaded = load_config(
        write(
            tmp_path / "anima-caption.yaml",
            "per-file-ignores:\n  'a/**':\n    - TG001\n    - TG777\n",
        )
    )
    with pytest.raises(UsageError, match=r"anima-caption.yaml:4: unknown rule selector 'TG777'"):
        ignored_for(tmp_path / "a" / "b.txt", loaded, rules=RULES)


def test_per_file_ignores_from_pyproject_are_relative_to_it(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.anima-caption.per-file-ignores]\n"dataset/wip/**" = ["TG005"]\n',
    )
    loaded = config_for(tmp_path / "dataset", None)
    assert loaded.root == tmp_path
    assert ignored_for(tmp_path / "dataset/wip/a.txt", loaded, rules=RULES) == {"TG005"}
    assert ignored_for(tmp_path / "dataset/ok/a.txt", loaded, rules=RULES) == frozenset()


def test_is_excluded(tmp_path: Path) -> None:
    loaded = loaded_with(tmp_path, exclude=["drafts", "dataset/old/**", "*.bak.txt", "tmp/"])
    assert is_excluded(tmp_path / "drafts", loaded)
    assert is_excluded(tmp_path / "drafts" / "a.txt", loaded)
    assert is_excluded(tmp_path / "x" / "drafts" / "a.txt", loaded)
    assert is_excluded(tmp_path / "dataset" / "old" / "a.txt", loaded)
    assert not is_excluded(tmp_path / "dataset" / "new" / "a.txt", loaded)
    assert is_excluded(tmp_path / "dataset" / "a.bak.txt", loaded)
    assert is_excluded(tmp_path / "tmp" / "a.txt", loaded)
    assert not is_excluded(tmp_path / "dataset" / "a.txt", loaded)
    assert not is_excluded(tmp_path / "draftsman.txt", loaded)
    assert not is_excluded(tmp_path / "a.txt", loaded_with(tmp_path))


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.txt", "a.txt", True),
        ("*.txt", "a/b/c.txt", True),
        ("a/*.txt", "a/b/c.txt", False),
        ("a/**/*.txt", "a/c.txt", True),
        ("a/**/*.txt", "a/b/c/d.txt", True),
        ("a/**", "a/b/c.txt", True),
        ("**/b", "x/y/b/z.txt", True),
        ("./a/b.txt", "a/b.txt", True),
        ("/a/b.txt", "a/b.txt", True),
        ("/a/b.txt", "x/a/b.txt", False),
        ("img_?.txt", "img_1.txt", True),
        ("img_?.txt", "img_12.txt", False),
        ("img_[0-9].txt", "img_5.txt", True),
        ("img_[!0-9].txt", "img_5.txt", False),
        ("a+b (1).txt", "a+b (1).txt", True),
        ("キャラ/*.txt", "キャラ/a.txt", True),
    ],
)
def test_glob(pattern: str, path: str, matches: bool) -> None:
    assert _Glob(pattern).matches(path) is matches


# -- JSON Schema -----------------------------------------------------------------------------


def test_committed_schema_is_up_to_date() -> None:
    committed = json.loads(
        (REPO / "docs" / "schema" / "anima-caption.schema.json").read_text(encoding="utf-8")
    )
    assert committed == config_json_schema(), (
        "regenerate with: python -m anima_caption._check._configfile "
        "> docs/schema/anima-caption.schema.json"
    )


def test_schema_accepts_the_docs_example_and_rejects_typos() -> None:
    import jsonschema
    import yaml

    schema = config_json_schema()
    jsonschema.validate(yaml.safe_load(FULL_YAML), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"selct": ["TG"]}, schema)


def test_relative_root_for_relative_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "anima-caption.yaml", "")
    monkeypatch.chdir(tmp_path)
    loaded = load_config(Path("anima-caption.yaml"))
    assert loaded.root == tmp_path
    assert os.path.isabs(loaded.root)


# -- the docs and the real rules -------------------------------------------------------------


def docs_blocks(language: str) -> list[str]:
    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_docs_config_examples_load_and_select_real_rules(tmp_path: Path) -> None:
    yaml_block = next(b for b in docs_blocks("yaml") if b.startswith("# anima-caption.yaml"))
    toml_block = next(b for b in docs_blocks("toml") if "[tool.anima-caption]" in b)
    from_yaml = load_config(write(tmp_path / "y" / "anima-caption.yaml", yaml_block))
    from_toml = load_config(write(tmp_path / "t" / "pyproject.toml", toml_block))
    assert from_yaml.config == from_toml.config
    # Every selector in the examples names real rules.
    sel = RuleSelection.from_config(from_yaml.config, None, None, loaded=from_yaml)
    ignored_for(tmp_path / "y" / "dataset" / "nsfw" / "a.txt", from_yaml)
    from anima_caption._check._registry import get_rule

    tg005, ps004, tg010 = get_rule("TG005"), get_rule("PS004"), get_rule("TG010")
    assert tg005 is not None and ps004 is not None and tg010 is not None
    assert sel.severity_of(tg005) is Severity.ERROR
    assert not sel.enabled(ps004)
    assert not sel.enabled(tg010)


def test_default_selection_with_the_real_registry() -> None:
    from anima_caption._check._registry import all_rules

    rules = all_rules()
    sel = RuleSelection.from_config(CheckConfig(), None, None)
    assert all(sel.severity_of(rule) is rule.severity for rule in rules)
    for rule in rules:  # every code, slug and CODE/slug resolves to exactly that rule
        for selector in (rule.code, rule.slug, rule.name()):
            only = RuleSelection.from_config(CheckConfig(select=[selector]), None, None)
            assert [r.code for r in rules if only.enabled(r)] == [rule.code], selector


def test_cli_reports_config_errors_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from anima_caption.cli import main

    write(tmp_path / "anima-caption.yaml", "select: [TG]\nselct: [WS]\n")
    write(tmp_path / "a.txt", "1girl, solo\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check", ".", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "anima-caption.yaml:2: unknown setting 'selct' (did you mean 'select'?)" in err
    assert "Traceback" not in err


# -- pre-commit hooks ------------------------------------------------------------------------


def test_pre_commit_hooks() -> None:
    import shlex

    import yaml

    from anima_caption.cli import build_parser

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    by_id = {hook["id"]: hook for hook in hooks}
    assert set(by_id) == {"anima-caption-check", "anima-caption-format", "anima-caption-dataset"}
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"
        argv = shlex.split(hook["entry"])
        assert argv[0] == "anima-caption"
        # The entry's options exist: argparse accepts them with a file name appended.
        build_parser().parse_args([*argv[1:], "dataset/a.txt"])
    for hook_id in ("anima-caption-check", "anima-caption-format"):
        files = re.compile(by_id[hook_id]["files"])
        assert files.search("dataset/a.txt") and files.search("b.caption")
        assert not files.search("a.png") and not files.search("a.txt.bak")
    dataset = by_id["anima-caption-dataset"]
    assert dataset["pass_filenames"] is False
    assert "--select DS" in dataset["entry"]
    assert "--ignore DS" in by_id["anima-caption-check"]["entry"]


def test_defaults_built_without_validation_equal_validated_defaults() -> None:
    """``CheckConfig.defaults()`` skips validation for speed; it must be the same config."""
    built = CheckConfig.defaults()
    validated = CheckConfig()
    assert built == validated
    assert built.model_dump() == validated.model_dump()
    assert built.model_fields_set == validated.model_fields_set
