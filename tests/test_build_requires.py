"""Issue 15 item 12: the compiled build must work in pip's isolated build environment.

``pip install .`` builds in a fresh environment holding only the build requirements.
mypyc type-checks the compiled modules there and follows their imports through the
package; a dependency missing from that environment (rapidfuzz was) fails the
type-check, and ``auto`` then quietly ships the pure-Python wheel (``ANIMA_CAPTION_MYPYC=1``
fails outright). This test walks the imports mypy follows and checks that the build hook
asks for every third-party package among them (or that mypy is told to ignore it).
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO

sys.path.insert(0, str(REPO))
import hatch_build

sys.path.remove(str(REPO))


def _dist(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group()).lower()


def _module_file(name: str) -> str | None:
    relative = name.replace(".", "/")
    for candidate in (REPO / f"{relative}.py", REPO / relative / "__init__.py"):
        if candidate.is_file():
            return str(candidate)
    return None


def _imports(path: str, module: str) -> set[str]:
    """Every module ``path`` imports, anywhere in it (mypy follows all of them)."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _third_party_imports_mypy_follows() -> set[str]:
    todo = [m.removesuffix(".py").replace("/", ".") for m in hatch_build.MODULES]
    seen: set[str] = set()
    outside: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        # mypy also reads every package above a module (anima_caption/__init__.py, which
        # names the whole public API for type checkers).
        todo.extend(module.rsplit(".", depth)[0] for depth in range(1, module.count(".") + 1))
        path = _module_file(module)
        if path is None:
            continue
        for name in _imports(path, module):
            top = name.partition(".")[0]
            if top == "anima_caption":
                todo.append(name)
            elif top not in sys.stdlib_module_names and top != "__future__":
                outside.add(top)
    return outside


def _ignored_by_mypy(config: dict[str, object]) -> set[str]:
    overrides = config.get("tool", {}).get("mypy", {}).get("overrides", [])  # type: ignore[union-attr]
    ignored: set[str] = set()
    for override in overrides:
        if override.get("ignore_missing_imports"):
            modules = override["module"]
            for module in [modules] if isinstance(modules, str) else modules:
                ignored.add(module.removesuffix(".*"))
    return ignored


def test_the_compiled_build_asks_for_every_package_mypy_reads() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    requires = {_dist(r) for r in hatch_build.compile_requires(config["project"]["dependencies"])}
    assert {"mypy", "setuptools", "rapidfuzz", "pydantic"} <= requires
    by_module = importlib.metadata.packages_distributions()
    ignored = _ignored_by_mypy(config)
    missing = []
    for top in sorted(_third_party_imports_mypy_follows()):
        if top in ignored:
            continue
        dists = {_dist(d) for d in by_module.get(top, [])}
        if importlib.util.find_spec(top) is None and not dists:
            missing.append(f"{top} (not installed here either)")
        elif not dists & requires:
            missing.append(f"{top} (from {sorted(dists)})")
    assert not missing, f"the isolated build environment lacks: {missing}"
