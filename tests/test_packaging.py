"""The wheel ships the grammar, the vocabulary and py.typed; the compiled wheel parses alike.

Wheels are built from this checkout with pip (``--no-build-isolation``: the build tools
come from the dev extra, nothing is downloaded). The quick test builds the pure wheel
(``ANIMA_CAPTION_MYPYC=0``); the ``slow`` ones build the mypyc-compiled wheel and the
fallback wheel of a machine without a working C compiler, and skip, saying why, when this
machine cannot build them or when a build takes longer than CI allows.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

#: A compiled build that takes longer than this is skipped in CI (the benchmark still
#: builds and measures it: ``python bench/bench_parse.py --compiled``).
COMPILE_BUDGET_S = 90
COMPILED_MODULES = ("_scanner", "_build", "_normalize", "_parse", "_format")


def _build_wheel(out: Path, mode: str, timeout: float | None = None, **env: str) -> Path:
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling is not installed (pip install -e '.[dev]') to build a wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, "ANIMA_CAPTION_MYPYC": mode, **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return next(out.glob("anima_caption-*.whl"))


def _check_contents(wheel: Path) -> set[str]:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "anima_caption/grammar/caption.lark" in names
    assert "anima_caption/tag_db/vocabulary.yaml" in names
    assert "anima_caption/py.typed" in names
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))
    )
    assert b"anima-caption = anima_caption.cli:main" in entry_points
    return names


def test_pure_wheel_contains_grammar_vocabulary_and_py_typed(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path, "0")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    names = _check_contents(wheel)
    assert not [n for n in names if n.endswith((".so", ".pyd"))]
    for module in COMPILED_MODULES:
        assert f"anima_caption/{module}.py" in names


def _compiler_or_skip() -> None:
    missing = [m for m in ("mypyc", "setuptools") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"cannot build the compiled wheel here: {', '.join(missing)} not installed")
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"cannot build the compiled wheel here: no C compiler ({compiler!r})")


_PARSE_SCRIPT = """
import json, sys
import anima_caption, anima_caption._build as build
texts = json.loads(sys.stdin.read())
dumps = [anima_caption.parse(t, triggers=["kanachan"]).model_dump(mode="json") for t in texts]
assert all(str(anima_caption.parse(t)) == t for t in texts)
formatted = []
for t in texts:
    try:
        formatted.append(anima_caption.format(t, sentences="after-character"))
    except anima_caption.CaptionSyntaxError as error:
        formatted.append(str(error))
print(json.dumps({"module": build.__file__, "dumps": dumps, "formatted": formatted}))
"""
_TEXTS = [
    "masterpiece, best quality, score_7, safe, 1girl, solo, kanachan, "
    "A girl stands in the rain, holding a red umbrella. Long Hair, side_ponytail, "
    "ganyu \\(genshin impact\\), (smile:1.2), [blush], {a|b}, ^_^, BREAK, @nnn yryr\n",
    "ye-pop\nA photo title\nA cat on a windowsill, sitting.",
    "1girl,\nsolo,  long hair , (unclosed, stray), ok",
    "",
]


def _parse_with(target: Path | None) -> dict[str, object]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(target) if target is not None else str(REPO)
    # Run outside the checkout: the current directory comes first on sys.path.
    result = subprocess.run(
        [sys.executable, "-c", _PARSE_SCRIPT],
        input=json.dumps(_TEXTS),
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=(target or REPO).parent,
    )
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


@pytest.mark.slow
def test_compiled_wheel_is_compiled_and_parses_like_the_sources(tmp_path: Path) -> None:
    _compiler_or_skip()
    start = time.monotonic()
    try:
        wheel = _build_wheel(tmp_path / "wheel", "1", timeout=COMPILE_BUDGET_S)
    except subprocess.TimeoutExpired:
        pytest.skip(
            f"compiled wheel build took over {COMPILE_BUDGET_S} s on this machine; "
            "build and measure it with: python bench/bench_parse.py --compiled"
        )
    print(f"compiled wheel built in {time.monotonic() - start:.0f} s")
    assert "-py3-none-any" not in wheel.name, wheel.name  # a platform wheel
    names = _check_contents(wheel)
    for module in COMPILED_MODULES:
        assert any(n.startswith(f"anima_caption/{module}.") and n.endswith((".so", ".pyd"))
                   for n in names), module  # fmt: skip
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--root-user-action=ignore",
         "--target", str(target), str(wheel)],
        check=True,
    )  # fmt: skip
    compiled = _parse_with(target)
    assert not str(compiled["module"]).endswith(".py"), compiled["module"]
    pure = _parse_with(None)
    assert str(pure["module"]).endswith(".py")
    assert compiled["dumps"] == pure["dumps"]
    assert compiled["formatted"] == pure["formatted"]


@pytest.mark.slow
def test_wheel_falls_back_to_pure_python_without_a_compiler(tmp_path: Path) -> None:
    """``auto`` (the default) warns and builds the pure wheel when compiling fails."""
    _compiler_or_skip()
    try:
        wheel = _build_wheel(
            tmp_path, "auto", timeout=COMPILE_BUDGET_S, CC="/nonexistent/cc", LDSHARED=""
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"the type-check before compiling took over {COMPILE_BUDGET_S} s here")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    names = _check_contents(wheel)
    assert not [n for n in names if n.endswith((".so", ".pyd"))]


def test_import_is_light() -> None:
    """``import anima_caption`` must not pull in pydantic, lark or yaml (pre-commit start-up)."""
    code = (
        "import sys, anima_caption; "
        "print(sorted(m for m in ('pydantic', 'lark', 'yaml') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_public_names_resolve() -> None:
    import anima_caption

    for name in anima_caption.__all__:
        assert getattr(anima_caption, name) is not None, name
