"""Streaming (issue 17 item 6): ``convert --from danbooru`` over a 200,000-row parquet
holds no more memory than over 20,000 rows — the rows are read a row group at a time and
written a row group at a time; only what is kept per distinct tag may grow, and it is
bounded by the vocabulary, not the rows.

Peak memory is the child's own ``VmHWM`` (``ru_maxrss`` of a child would include the
pytest process it was forked from).
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import REPO

_CHILD = """
import sys
from anima_caption.cli import main
code = main(sys.argv[1:])
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("VMHWM", int(line.split()[1]))
sys.exit(code)
"""


def _posts(path: Path, rows: int) -> None:
    """Danbooru-style posts over a fixed vocabulary of 3,000 general tags."""
    rng = random.Random(17)
    general = [f"tag_{i:04d}_word" for i in range(3000)]
    writer = None
    for start in range(0, rows, 20_000):
        size = min(20_000, rows - start)
        table = pa.table(
            {
                "id": list(range(start, start + size)),
                "rating": [rng.choice("gsqe") for _ in range(size)],
                "tag_string_general": [
                    " ".join(["1girl", *rng.sample(general, 12)]) for _ in range(size)
                ],
                "tag_string_character": [f"character_{rng.randrange(300)}" for _ in range(size)],
                "tag_string_copyright": [f"series_{rng.randrange(100)}" for _ in range(size)],
                "tag_string_artist": [f"artist_{rng.randrange(500)}" for _ in range(size)],
                "tag_string_meta": ["highres commentary_request"] * size,
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def _peak_kib(argv: list[str], cwd: Path) -> int:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )
    assert child.returncode == 0, child.stderr[-2000:]
    return int(child.stdout.split("VMHWM")[-1].split()[0])


def test_convert_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    _posts(tmp_path / "small.parquet", 20_000)
    _posts(tmp_path / "large.parquet", 200_000)
    small = _peak_kib(
        ["convert", "small.parquet", "--from", "danbooru", "--out", "s.parquet"], tmp_path
    )
    large = _peak_kib(
        ["convert", "large.parquet", "--from", "danbooru", "--out", "l.parquet"], tmp_path
    )
    assert pq.ParquetFile(tmp_path / "l.parquet").metadata.num_rows == 200_000
    print(f"convert peak memory: 20,000 rows {small // 1024} MiB, 200,000 rows {large // 1024} MiB")
    # Ten times the rows: the sink's row group (65,536 rows) fills up once, nothing more.
    assert large < small * 1.5 and large - small < 120 * 1024, (small, large)


def test_check_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    """``check`` streams too: diagnostics go to sorted runs on disk (merged when the report
    is written), the dataset rules read a caption spill, and what stays in memory is per
    distinct tag. Every caption here has a diagnostic (no safety tag) and every 7th one
    more (``long_hair``), so the diagnostics spill to disk many times over; a caption
    repeating the one before every 1,000 rows is found by the dataset rules."""
    for name, rows in (("small", 20_000), ("large", 200_000)):
        rng = random.Random(17)
        general = [f"tag {i:04d} word" for i in range(3000)]
        writer = None
        for start in range(0, rows, 20_000):
            captions = []
            for i in range(start, start + 20_000):
                caption = ", ".join(["1girl", *rng.sample(general, 6)])
                if i % 7 == 0:
                    caption += ", long_hair"  # TG001
                if i % 1000 == 1:  # the caption of the row before: DS003
                    caption = captions[-1]
                captions.append(caption)
            table = pa.table({"file_name": [f"{i}.png" for i in range(start, start + 20_000)],
                              "caption": captions})  # fmt: skip
            if writer is None:
                writer = pq.ParquetWriter(tmp_path / f"{name}.parquet", table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()
    # Three rules keep the run short; every caption has an SF001 (no safety tag).
    argv = ["--format", "concise", "--output-file", "report.txt", "--exit-zero"]
    argv += ["--select", "TG001,DS003,SF001"]
    small = _peak_kib(["check", "small.parquet", *argv], tmp_path)
    small_report = (tmp_path / "report.txt").read_text(encoding="utf-8")
    large = _peak_kib(["check", "large.parquet", *argv], tmp_path)
    report = (tmp_path / "report.txt").read_text(encoding="utf-8")
    lines = report.splitlines()
    assert lines == sorted(lines, key=lambda line: line.split(":")[0])  # in path order
    print(f"check peak memory: 20,000 rows {small // 1024} MiB, 200,000 rows {large // 1024} MiB")
    # The report really holds the 200,000 rows' findings: TG001 every 7th row, DS003 each
    # 1,000th, in path order.
    assert report.count(" TG001/") == sum(
        1 for i in range(200_000) if (i if i % 1000 != 1 else i - 1) % 7 == 0
    )
    assert report.count(" DS003/") == 200
    assert report.count(" SF001/") == 200_000
    assert small_report.count(" DS003/") == 20
    assert large < small * 1.5, (small, large)
