"""Ray Data as the engine (issue 17): ``check --engine ray`` finds what the local engine
finds, and the documented ``map_batches(LinterActor, ...)`` recipe works, on a local Ray
with ``num_cpus=2`` and fractional actor CPUs.

Ray runs in a child process with a hard timeout: actors that each held a whole CPU would
starve Ray's read tasks on two cores and hang, and a hang must fail the test, not CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anima_caption.cli import main
from tests.conftest import EXAMPLES, REPO

try:
    import ray.data  # noqa: F401
except ImportError as missing:  # pragma: no cover - ray is in the dev extra
    pytest.skip(
        f"Ray Data is not installed ({missing}); pip install 'anima-caption[ray]'",
        allow_module_level=True,
    )

#: Starting a local Ray takes 5-15 s; the whole child well under a minute on two cores.
TIMEOUT = 150

_CHILD = textwrap.dedent(
    """
    import json, sys
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    from anima_caption.cli import main
    code = main(["check", "data.parquet", "--column", "caption", "--engine", "ray",
                 "--trigger", "kanachan", "--format", "json", "--no-progress",
                 "--output-file", "ray.json"])
    import pyarrow.parquet as pq
    from anima_caption.datasets._ray import LinterActor
    table = (
        ray.data.read_parquet("data.parquet")
        .map_batches(LinterActor, fn_constructor_kwargs={"db": sys.argv[1],
                     "config": {"triggers": ["kanachan"]}, "column": "caption"},
                     batch_format="pyarrow", batch_size=8,
                     compute=ray.data.ActorPoolStrategy(size=2), num_cpus=0.5)
        .to_arrow_refs()
    )
    import pyarrow as pa
    rows = pa.concat_tables(ray.get(table)).select(["file_name", "errors", "diagnostics"])
    json.dump({"code": code, "rows": rows.to_pylist()}, open("recipe.json", "w"))
    ray.shutdown()
    """
)


def test_check_engine_ray_finds_what_the_local_engine_finds(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    small_db_path: Path,
) -> None:
    folder = tmp_path / "k"
    shutil.copytree(EXAMPLES / "kanachan", folder)
    (folder / "dup.txt").write_text(
        (folder / sorted(p.name for p in folder.glob("*.txt"))[0]).read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    (folder / "under.txt").write_text("safe, 1girl, kanachan, long_hair", encoding="utf-8")
    names = sorted(p.name for p in folder.glob("*.txt"))
    texts = [(folder / n).read_text(encoding="utf-8") for n in names]
    table = pa.table({"file_name": names, "caption": texts})
    pq.write_table(table, tmp_path / "data.parquet", row_group_size=4)  # several units
    env = {**os.environ, "ANIMA_CAPTION_TAGDB": str(small_db_path), "PYTHONPATH": str(REPO)}
    try:
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(small_db_path)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:  # pragma: no cover - the hang this test guards against
        pytest.fail(f"Ray run did not finish in {TIMEOUT} s (starved actors?)")
    assert child.returncode == 0, child.stderr[-3000:]
    recipe = json.loads((tmp_path / "recipe.json").read_text(encoding="utf-8"))
    from_ray = json.loads((tmp_path / "ray.json").read_text(encoding="utf-8"))

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANIMA_CAPTION_TAGDB", str(small_db_path))
    argv = ["data.parquet", "--column", "caption", "--trigger", "kanachan", "--format", "json"]
    code = main(["check", *argv, "--no-progress"])
    local = json.loads(capsys.readouterr().out)
    assert recipe["code"] == code == 1
    assert {d["code"] for d in local} >= {"TG001", "DS003"}  # caption and dataset rules
    assert from_ray == local

    # The recipe's per-row diagnostics are the caption rules' findings of the local run.
    assert [r["file_name"] for r in recipe["rows"]] == names
    for row in recipe["rows"]:
        shown = f"data.parquet[{row['file_name']}]"
        expected = sorted(
            (d["code"], d["line"], d["column"])
            for d in local
            if d["path"] == shown and not d["code"].startswith("DS")
        )
        got = sorted((d["code"], d["line"], d["column"]) for d in row["diagnostics"])
        assert got == expected, row["file_name"]
        assert row["errors"] == sum(1 for d in row["diagnostics"] if d["severity"] == "error")


def test_engine_ray_refuses_what_it_does_not_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "1girl"}\n', encoding="utf-8")
    out = str(tmp_path / "o.jsonl")
    code = main(["check", str(path), "--engine", "ray", "--fix", "--out", out])
    assert code == 2
    assert "--fix, --diff, --out and --num-shards run with the local engine" in (
        capsys.readouterr().err
    )
