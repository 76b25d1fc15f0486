"""Issue 15 item 14: the README's two commands and every example in README and ``--help``
run as written, from a clean clone.

What is an example:

* README: every line of a ```` ```sh ```` / ```` ```bash ```` block, run literally (a
  ``# comment`` after it is bash's). A syntax summary is fenced ```` ```text ```` instead
  (the "Command line" block), so by rule it is not run.
* ``--help``: every indented line of an ``examples:`` section of every command's help
  (a ``\\`` at the end continues on the next line; the description after two spaces is
  dropped), and any other 2-space-indented help line that starts with ``anima-caption``
  (e.g. ``review export``'s "then:" lines).

How they run: each group (a README code block, a help page) runs in order in ONE bash
process, in its own workspace laid out like a clone with ``../shared`` beside it, groups
in parallel. ``anima-caption`` and ``python`` are the ones of this environment (the
console script ``pip install -e`` made). The names the examples use for the reader's own
files exist there as stand-ins (``_STAND_INS``): ``dataset/``, ``DATASET/`` and ``data/``
are copies of ``examples/kanachan``, ``caption.txt`` / ``a.txt`` one of its captions,
``policy.yaml`` / ``kanachan-policy.yaml`` ``examples/kanachan-policy.yaml``, the Danbooru
CSV names slices of ``../shared/data/tags`` (``../shared/data/tags`` itself is those
slices too, so the README's import reads them) and ``tags.sqlite`` the tag database.
That database is built ONCE from the slices and placed where ``tagdb import`` puts it by
default (the user cache folder, under a home of the workspace's own), so every example
runs with a tag database, as the README's quick start sets up.

A command passes when its output has no Python traceback and it exits with the code its
documentation gives (docs/ci.md, "Exit codes"): 0, or a code in ``_EXIT`` (with the
reason, e.g. 1 where ``check`` reports the examples' deliberate mistakes). Commands that
cannot run here are listed in ``_EXCLUDED`` with the reason, printed by the test
(``pytest -s`` or ``-rA`` shows them); ``GROUP_SETUP`` names the few steps a group
needs first that no example of it does (a sheet to apply, a run to undo).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import _cli_server
from tests.conftest import REPO, TAG_DATA
from tests.test_examples_exist import _help_texts

#: Example (regular expression) -> why it does not run here.
_EXCLUDED = {
    r"^anima-caption tagdb pull\b": "downloads from danbooru.donmai.us (no network in tests;"
    " tests/tagdb/ drive pull against a local server)",
    r"^pip install\b": "installs from PyPI (no network in tests)",
    r"^python -m pytest\b": "the test suite itself; test_readme_test_command_is_what_ci_runs"
    " checks it is .ci/run's",
    r"^python bench/": "a benchmark (minutes each, by hand: docs/*-performance.md)",
    r"^anima-caption review serve\b": "a web server that runs until stopped; "
    "tests/review/test_serve*.py start it and drive it",
    r"^ssh ": "a tunnel to another machine",
}
if shutil.which("jq") is None:
    _EXCLUDED[r"\| jq\b"] = "jq is not installed here"

#: Example (regular expression) -> (exit codes it is documented to give, why not 0).
_EXIT: dict[str, tuple[set[int], str]] = {
    r"^anima-caption check (examples/kanachan|examples/|DATASET/|dataset/)"
    r"( --trigger kanachan)?$": ({1}, "errors remain: the examples' mistakes (exit 1)"),
    r"^anima-caption check \S+ --fix": ({1}, "errors remain that no fix removes (exit 1)"),
    r"^anima-caption check \S+ --format github": ({1}, "the annotations are errors (exit 1)"),
    r"^anima-caption check \S+ --select TG,SF": ({1}, "TG005 errors remain (exit 1)"),
    r"^anima-caption format \S+ --check": ({1}, "a file would be reformatted (exit 1)"),
    r"^anima-caption tagdb lookup .*(left side ponytail|front view)": (
        {1},
        "a tag that does not exist (exit 1: the point of the example)",
    ),
    r"^anima-caption check data/\*\.parquet .*--summary": ({1}, "errors in the shard (exit 1)"),
    r"^anima-caption merge ": ({1}, "errors in a shard (exit 1, merge --help)"),
}

#: Help page -> commands run before its examples in the same workspace, each with the
#: reason. Only what the page's own examples presuppose and do not do themselves.
GROUP_SETUP: dict[str, list[tuple[str, str]]] = {
    "review apply --help": [
        ("anima-caption review export dataset/ --out review.xlsx", "the sheet to apply"),
        ("anima-caption review export dataset/ --out review.csv", "the CSV sheet to apply"),
    ],
    "undo --help": [
        ('anima-caption edit data/ --remove "brown hair" --write', "a write run to undo"),
    ],
    "merge --help": [
        (
            f"{shlex.quote(sys.executable)} -c 'import pyarrow as pa, pyarrow.parquet as pq,"
            ' pathlib; p = sorted(pathlib.Path("data").glob("*.txt"));'
            ' pq.write_table(pa.table({"image": [x.stem for x in p],'
            ' "caption": [x.read_text() for x in p]}), "data/captions.parquet")\'',
            "a parquet dataset (data/*.parquet)",
        ),
        *(
            (
                f"anima-caption check data/*.parquet --column caption --num-shards 4"
                f" --shard-index {i} --summary shard-{i}.json.gz > /dev/null; true",
                f"shard {i} of 4 (the example writes shard 0)",
            )
            for i in (1, 2, 3)
        ),
    ],
}

_SLICE_LINES = 10_000  # the tags the slices keep: the most used (the list is sorted by use)


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#\s.*$", "", line).strip()


def readme_blocks() -> list[tuple[str, list[str]]]:
    """The README's sh/bash blocks: (heading, commands), in order."""
    blocks: list[tuple[str, list[str]]] = []
    heading = "README.md"
    fence: str | None = None
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and fence is None:
            heading = line.lstrip("#").strip()
        elif line.startswith("```"):
            if fence is None:
                fence = line[3:].strip()
                if fence in ("sh", "bash"):
                    blocks.append((f"README: {heading}", []))
            else:
                fence = None
        elif fence in ("sh", "bash") and line.strip() and not line.lstrip().startswith("#"):
            blocks[-1][1].append(_strip_comment(line))
    return blocks


def help_examples() -> dict[str, list[str]]:
    """Help page -> its example commands, in order (pages with the same list once)."""
    pages: dict[str, list[str]] = {}
    for name, text in _help_texts().items():
        commands: list[str] = []
        inside = False
        for line in text.splitlines():
            if not line.strip():
                continue
            if not line.startswith(" "):
                inside = line.rstrip() == "examples:"
                continue
            if line.startswith("      ") and commands and commands[-1].endswith("\\"):
                commands[-1] = commands[-1][:-1].rstrip() + " " + line.strip()
            elif (line.startswith("  ") and not line.startswith("   ")) and (
                inside or line.startswith("  anima-caption ")
            ):
                commands.append(line.strip())
        commands = [re.split(r"\s{2,}|\s+#\s", c)[0] for c in commands]
        if commands and commands not in pages.values():  # `train kohya` repeats `train`
            pages[f"{name} --help"] = commands
    return pages


def _groups() -> list[tuple[str, list[str]]]:
    groups = readme_blocks()
    # The quick start's setup line: its install is checked against .ci/run (no network
    # here); what follows the install runs as written.
    name, commands = groups[0]
    setup = commands[0]
    assert "pip install" in setup, setup
    groups[0] = (name, [setup.split("&&")[-1].strip(), *commands[1:]])
    return groups + list(help_examples().items())


def _match(table: dict[str, object], command: str) -> object | None:
    for pattern, value in table.items():
        if re.search(pattern, command):
            return value
    return None


def _copy_head(source: Path, target: Path, lines: int) -> None:
    with source.open(encoding="utf-8") as src, target.open("w", encoding="utf-8") as out:
        for number, line in enumerate(src):
            if number >= lines:
                break
            out.write(line)


def _slices(folder: Path) -> None:
    """Small copies of the Danbooru files: the most used tags, the aliases and
    implications between them (kept whole: their header, in file order)."""
    folder.mkdir(parents=True)
    _copy_head(
        TAG_DATA / "danbooru_tags_full_2025-09-24.csv",
        folder / "danbooru_tags_full_2025-09-24.csv",
        _SLICE_LINES,
    )
    _copy_head(TAG_DATA / "danbooru.csv", folder / "danbooru.csv", _SLICE_LINES)
    known = {
        line.split(",", 1)[0]
        for line in (folder / "danbooru_tags_full_2025-09-24.csv").read_text("utf-8").splitlines()
    }
    for name in ("danbooru_aliases.csv", "danbooru_implications.csv"):
        with (
            (TAG_DATA / name).open(encoding="utf-8") as src,
            (folder / name).open("w", encoding="utf-8") as out,
        ):
            out.write(src.readline())
            for line in src:
                if line.split(",", 2)[1] in known:
                    out.write(line)


def _env(root: Path, bindir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANIMA_CAPTION_", "XDG_"))}
    home = root / "home"
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),  # the tag database's default place
        XDG_DATA_HOME=str(home / ".local" / "share"),  # the journal key
        XDG_CONFIG_HOME=str(home / ".config"),
        ANIMA_CAPTION_CACHE_DIR=str(root / "cache"),
        ANIMA_CAPTION_DATA_DIR=str(root / "data"),
        PATH=os.pathsep.join(
            [
                *([str(bindir)] if bindir else []),
                str(Path(sys.executable).parent),
                env.get("PATH", ""),
            ]
        ),
        NO_COLOR="1",
        COLUMNS="100",
    )
    return env


def _default_db(root: Path) -> Path:
    return root / "home" / ".cache" / "anima-caption" / "danbooru-tags.sqlite"


def _workspace(root: Path, slices: Path, db: Path) -> Path:
    """A clone-like folder with ../shared beside it and the examples' stand-in names."""
    repo = root / "anima-caption"
    shutil.copytree(REPO / "examples", repo / "examples")
    shutil.copytree(slices, root / "shared" / "data" / "tags")
    for name in ("dataset", "DATASET", "data"):
        shutil.copytree(REPO / "examples" / "kanachan", repo / name)
    for name in ("caption.txt", "a.txt"):
        shutil.copy(REPO / "examples" / "kanachan" / "kanachan_angry.txt", repo / name)
    for name in ("policy.yaml", "kanachan-policy.yaml"):
        shutil.copy(REPO / "examples" / "kanachan-policy.yaml", repo / name)
    for name in slices.iterdir():
        shutil.copy(name, repo / name.name)
    for stand_in, source in (
        ("danbooru_tags.csv", "danbooru_tags_full_2025-09-24.csv"),
        ("aliases.csv", "danbooru_aliases.csv"),
        ("implications.csv", "danbooru_implications.csv"),
    ):
        shutil.copy(slices / source, repo / stand_in)
    shutil.copy(db, repo / "tags.sqlite")
    (root / "home" / "models").mkdir(parents=True)
    _default_db(root).parent.mkdir(parents=True)
    shutil.copy(db, _default_db(root))
    return repo


_STAND_INS = (
    "dataset/ DATASET/ data/ (examples/kanachan), caption.txt a.txt, policy.yaml "
    "kanachan-policy.yaml, danbooru*.csv aliases.csv implications.csv (slices), "
    "tags.sqlite, ~/models"
)


def _run_group(
    root: Path, slices: Path, db: Path, bindir: Path | None, commands: list[str]
) -> list[tuple[str, int, float, str]]:
    """Run ``commands`` in order in one bash process: (command, exit code, seconds,
    output) each."""
    root.mkdir(parents=True)
    repo = _workspace(root, slices, db)
    out = root / "out"
    out.mkdir()
    script = ["set -o pipefail"]
    for i, command in enumerate(commands):
        script.append(
            f"s=$EPOCHREALTIME; ( {command}\n) >{out}/{i} 2>&1 </dev/null;"
            f" echo $? $s $EPOCHREALTIME >{out}/{i}.rc"
        )
    subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=repo,
        env=_env(root, bindir),
        check=False,
        timeout=300,
    )
    results = []
    for i, command in enumerate(commands):
        rc = (out / f"{i}.rc").read_text().split() if (out / f"{i}.rc").exists() else []
        code, seconds = (int(rc[0]), float(rc[2]) - float(rc[1])) if len(rc) == 3 else (-1, 0.0)
        output = (out / str(i)).read_text("utf-8", "replace") if (out / str(i)).exists() else ""
        results.append((command, code, seconds, output or "(no output)"))
    return results


def _build_db(folder: Path) -> Path:
    db = folder / "tags.sqlite"
    tags = [folder / "danbooru_tags_full_2025-09-24.csv", folder / "danbooru.csv"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "anima_caption",
            "tagdb",
            "import",
            *map(str, tags),
            "--aliases",
            str(folder / "danbooru_aliases.csv"),
            "--implications",
            str(folder / "danbooru_implications.csv"),
            "--db",
            str(db),
            "--no-progress",
        ],
        check=True,
        capture_output=True,
        env=_env(folder.parent),
    )
    return db


@contextlib.contextmanager
def _cli(tmp_path: Path) -> Iterator[Path | None]:
    """The folder of an ``anima-caption`` that runs through tests/_cli_server.py with
    ANIMA_CAPTION_EXAMPLES_FAST=1 (~2x faster, for working on the examples); None by
    default: the console script itself, as a user runs it. (One fast run once gave a
    result the real script never gave; CI runs what users run.)"""
    if os.environ.get("ANIMA_CAPTION_EXAMPLES_FAST") != "1":
        yield None
        return
    bindir = tmp_path / "bin"
    bindir.mkdir()
    socket_path = Path(tempfile.mkdtemp(prefix="ac-")) / "cli.sock"  # short: 108 bytes at most
    _cli_server.write_client(bindir / "anima-caption", socket_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "tests._cli_server", str(socket_path)],
        cwd=REPO,
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            assert server.poll() is None, "the fork server did not start"
            assert time.monotonic() < deadline, "the fork server did not start in 60 s"
            time.sleep(0.02)
        yield bindir
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(socket_path.parent, ignore_errors=True)


def _run_all(
    tmp_path: Path,
    slices: Path,
    db: Path,
    bindir: Path | None,
    runnable: list[tuple[str, list[str], int]],
) -> list[tuple[str, int, list[tuple[str, int, float, str]]]]:
    with ThreadPoolExecutor(3 * (os.cpu_count() or 2)) as pool:  # writes wait on fsync
        futures = [
            (name, skip, pool.submit(_run_group, tmp_path / f"g{i}", slices, db, bindir, commands))
            for i, (name, commands, skip) in enumerate(runnable)
        ]
        return [(name, skip, future.result()) for name, skip, future in futures]


@pytest.mark.skipif(not TAG_DATA.is_dir(), reason=f"needs the Danbooru data in {TAG_DATA}")
def test_every_example_runs_as_written(tmp_path: Path) -> None:
    started = time.perf_counter()
    slices = tmp_path / "slices"
    _slices(slices)
    db = _build_db(slices)
    built = time.perf_counter() - started
    groups = _groups()
    runnable: list[tuple[str, list[str], int]] = []
    print(f"\nstand-ins: {_STAND_INS}")
    for name, commands in groups:
        setup = [command for command, _ in GROUP_SETUP.get(name, [])]
        for command, reason in GROUP_SETUP.get(name, []):
            print(f"setup ({name}): {command}\n    for {reason}")
        keep = []
        for command in commands:
            reason = _match(_EXCLUDED, command)  # type: ignore[arg-type]
            if reason is None:
                keep.append(command)
            else:
                print(f"excluded ({name}): {command}\n    because {reason}")
        if keep:
            runnable.append((name, setup + keep, len(setup)))
    runnable.sort(key=lambda group: -len(group[1]))  # the longest first
    with _cli(tmp_path) as bindir:
        outcomes = _run_all(tmp_path, slices, db, bindir, runnable)
    failures = []
    timings: list[tuple[float, str]] = []
    count = 0
    for name, skip, results in outcomes:
        for index, (command, code, seconds, output) in enumerate(results):
            timings.append((seconds, command))
            expected = _match(_EXIT, command) if index >= skip else None
            allowed = expected[0] if isinstance(expected, tuple) else {0}
            count += index >= skip
            if "Traceback (most recent call last)" in output or code not in allowed:
                tail = "\n      ".join(output.strip().splitlines()[-8:])
                what = "setup" if index < skip else "example"
                failures.append(
                    f"{name} ({what}): {command}\n   exit {code}, allowed {sorted(allowed)}"
                    f"\n      {tail}"
                )
    print(
        f"{count} examples in {len(runnable)} groups ran in "
        f"{time.perf_counter() - started:.1f} s (tag database {built:.1f} s); slowest:"
    )
    for seconds, command in sorted(timings, reverse=True)[:8]:
        print(f"  {seconds:5.2f} s  {command}")
    assert not failures, "\n".join(failures)
    assert count > 90  # the examples were found


def test_readme_setup_is_what_ci_runs() -> None:
    """The quick start's setup installs what .ci/run installs (no network here)."""
    setup = readme_blocks()[0][1][0]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    install = re.search(r'pip install (?:--quiet )?(-e "\.\[dev\]")', ci)
    assert install is not None, "the install line of .ci/run"
    assert f"pip install {install.group(1)}" in setup, setup
    assert setup.startswith("python3 -m venv .venv && . .venv/bin/activate && "), setup
    assert "python3 -m venv" in ci


def test_readme_test_command_is_what_ci_runs() -> None:
    commands = [c for _, block in readme_blocks() for c in block if "pytest" in c]
    assert commands == ["python -m pytest -q"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == "python -m pytest -q"
