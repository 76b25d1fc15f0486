"""Issue 15 item 5: a config file found in (or above) a dataset is untrusted input.

Before: a YAML anchor/alias bomb in ``anima-caption.yaml`` made ``check`` take 3.4 GB and
more than a minute; a self-referencing alias gave a traceback. Now aliases are refused
(a config never needs them), nesting and size are capped, and each problem is one line
naming the file and line, exit code 2 (SPEC §7: configuration error).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.conftest import run_cli

BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
triggers: *i
"""

CASES = {
    "alias-bomb": (BILLION_LAUGHS, 2, "aliases"),
    "self-alias": ("triggers: &x [*x]\n", 1, "aliases"),
    "merge-key": ("base: &b {select: [TG]}\nother:\n  <<: *b\n", 3, "aliases"),
    "deep-lists": ("triggers: " + "[" * 5000 + "]" * 5000 + "\n", 1, "nested"),
    "deep-maps": ("a:\n" + "".join("  " * n + f"k{n}:\n" for n in range(1, 300)), None, "nested"),
}


def _dataset(root: Path, config: str, name: str = "anima-caption.yaml") -> Path:
    root.mkdir(parents=True)
    (root / name).write_text(config, encoding="utf-8")
    data = root / "data"
    data.mkdir()
    (data / "a.txt").write_text("1girl, smile, safe\n", encoding="utf-8")
    return data


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_yaml_config_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    text, line, words = CASES[case]
    data = _dataset(tmp_path / "set", text)
    run = run_cli("check", data, timeout=30, memory_mb=1024)
    run.no_traceback()
    assert run.code == 2, run.err
    lines = [x for x in run.err.splitlines() if x.strip()]
    assert len(lines) == 1, run.err
    where = f"anima-caption.yaml:{line}:" if line else "anima-caption.yaml:"
    assert where in lines[0], lines[0]
    assert words in lines[0]


@pytest.mark.parametrize("command", [["check"], ["report", "--out", "{out}/r.html"]])
def test_the_bomb_is_found_from_the_dataset_upwards(tmp_path: Path, command: list[str]) -> None:
    """The config sits above the dataset folder given: the search finds it and refuses it."""
    data = _dataset(tmp_path / "outer", BILLION_LAUGHS)
    args = [a.replace("{out}", str(tmp_path)) for a in command]
    run = run_cli(args[0], data, *args[1:], timeout=30, memory_mb=1024)
    run.no_traceback()
    assert run.code == 2
    assert "aliases" in run.err


def test_a_huge_config_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "set", "triggers: [kanachan]\n# " + "x" * (3 << 20) + "\n")
    run = run_cli("check", data, timeout=30)
    run.no_traceback()
    assert run.code == 2
    assert "anima-caption.yaml" in run.err and "bytes" in run.err


def test_a_toml_bomb_in_pyproject_is_one_line(tmp_path: Path) -> None:
    toml = '[tool.anima-caption]\ntriggers = ["a"]\nx = ' + "[" * 5000 + "]" * 5000 + "\n"
    data = _dataset(tmp_path / "set", toml, name="pyproject.toml")
    run = run_cli("check", data, timeout=30)
    run.no_traceback()
    assert run.code == 2
    assert "pyproject.toml" in run.err


def test_a_policy_file_with_aliases_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "triggers:\n  kanachan:\n    core: &c [side ponytail]\n    structural: *c\n",
        encoding="utf-8",
    )
    data = _dataset(tmp_path / "set", "triggers: [kanachan]\n")
    run = run_cli("policy", "report", data, "--policy", policy, timeout=30)
    run.no_traceback()
    assert run.code == 2
    assert "policy.yaml:4:" in run.err and "aliases" in run.err


def test_anchors_alone_and_plain_configs_still_load(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "set", "triggers: &t [kanachan]\nselect: [TG, NL]\n")
    run = run_cli("check", data, "--exit-zero", timeout=30)
    run.no_traceback()
    assert run.code == 0, run.err
