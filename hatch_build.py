"""Hatchling build hook: compile the parse hot path with mypyc, else ship pure Python.

``ANIMA_CAPTION_MYPYC`` chooses:

* ``auto`` (default): compile regular wheels (``pip install .``, ``python -m build``); if
  compiling fails (no C compiler, a mypy error), warn and build the pure-Python wheel,
  which behaves the same, only slower. Editable installs are never compiled, so edits to
  the sources take effect at once.
* ``1``: compile or fail the build (release and benchmark builds). Editable installs stay
  pure even then: compiled modules beside the sources would shadow later edits.
* ``0``: never compile, and do not install mypy into the build environment either (the
  quick pure wheel CI builds to check the wheel's contents).

The compiled modules are the ones ``parse`` spends its time in; they are ordinary,
type-checked Python (``mypy --strict``), so the pure and compiled wheels run the same code.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULES = [
    "anima_caption/_scanner.py",
    "anima_caption/_build.py",
    "anima_caption/_normalize.py",
    "anima_caption/_parse.py",
    "anima_caption/_format.py",
]
GROUP = "anima_caption"  # mypyc's shared runtime module: anima_caption__mypyc
# What compiling needs in the build environment: mypy(c), setuptools' build_ext, and what
# mypy needs to type-check the compiled modules. mypy follows their imports through the
# package, so it needs every runtime dependency (rapidfuzz, pydantic for its plugin…) and
# the stubs of the untyped ones: pip's isolated build environment has only what is listed
# here (issue 15 item 12: without rapidfuzz there, `pip install .` fell back to pure Python).
COMPILE_TOOLS = ["mypy>=1.10", "setuptools>=77", "types-PyYAML", "types-openpyxl"]


def compile_requires(dependencies: list[str]) -> list[str]:
    """The build requirements of a compiled wheel: the tools and the project's
    ``dependencies`` (those mypy reads while type-checking the compiled modules)."""
    return [*COMPILE_TOOLS, *dependencies]


def _mode() -> str:
    mode = os.environ.get("ANIMA_CAPTION_MYPYC", "auto").strip().lower()
    if mode in ("0", "false", "no", "off"):
        return "0"
    if mode in ("1", "true", "yes", "on"):
        return "1"
    return "auto"


def _asked_for_editable() -> bool:
    """True when the frontend asks what an *editable* build needs.

    Hatchling asks hooks for their dependencies without saying which build they are for;
    pip and ``build`` run PEP 517 hooks through ``pyproject_hooks``, whose command line
    names the hook. Editable installs are never compiled, so they need no mypy.
    """
    return "get_requires_for_build_editable" in sys.argv[1:3]


class MypycBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        if _mode() == "0" or _asked_for_editable():
            return []
        return compile_requires(list(self.metadata.core.dependencies))

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        mode = _mode()
        if mode == "0":
            return
        try:
            built = self._compile()
        except BaseException as exc:  # distutils raises SystemExit on compiler errors
            if mode == "1" or isinstance(exc, KeyboardInterrupt):
                raise
            self.app.display_warning(
                f"mypyc compilation failed ({type(exc).__name__}: {exc}); "
                "building the pure-Python wheel (slower parse, same behaviour)"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        for path, relative in built:
            build_data["force_include"][str(path)] = relative

    def _compile(self) -> list[tuple[Path, str]]:
        from mypyc.build import mypycify
        from setuptools import Distribution

        work = Path(tempfile.mkdtemp(prefix="anima-mypyc-"))
        self._work = work  # removed in finalize, once the wheel holds the modules
        old_cwd = Path.cwd()
        os.chdir(self.root)  # mypy reads [tool.mypy] from pyproject.toml here
        try:
            extensions = mypycify(
                MODULES, opt_level="3", target_dir=str(work / "c"), group_name=GROUP
            )
            # A bare Distribution: setuptools must not read pyproject.toml (its package
            # discovery rejects this layout) — it only builds the extensions.
            dist = Distribution({"name": "anima-caption-mypyc", "ext_modules": extensions})
            build_ext = dist.get_command_obj("build_ext")
            build_ext.build_lib = str(work / "lib")  # type: ignore[attr-defined]
            build_ext.build_temp = str(work / "tmp")  # type: ignore[attr-defined]
            build_ext.ensure_finalized()
            build_ext.run()
        finally:
            os.chdir(old_cwd)
        lib = work / "lib"
        built = [(path, path.relative_to(lib).as_posix()) for path in lib.rglob("*.so")]
        built += [(path, path.relative_to(lib).as_posix()) for path in lib.rglob("*.pyd")]
        if len(built) != len(MODULES) + 1:
            raise RuntimeError(f"expected {len(MODULES) + 1} extension modules, got {built}")
        print(f"mypyc: compiled {len(MODULES)} modules with {sys.executable}", file=sys.stderr)
        return built

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
