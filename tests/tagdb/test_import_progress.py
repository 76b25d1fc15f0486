"""``tagdb import`` shows its progress (issue 15 item 14): bars on stderr on a terminal,
nothing in a pipe or with ``--no-progress``; stdout stays the one summary line.

Real child processes: one with stderr on a pseudo-terminal, one with pipes. The tag list
is generated (120,000 rows), large enough that reading and writing outlast the bars'
half-second delay.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

ROWS = 120_000


@pytest.fixture(scope="module")
def tag_list(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("progress") / "tags.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("name,category,post_count\n")
        for i in range(ROWS):
            out.write(f"generated_tag_{i},{(0, 1, 3, 4, 5)[i % 5]},{ROWS - i}\n")
    return path


def _command(tag_list: Path, *extra: str) -> list[str]:
    db = tag_list.with_name(f"db{len(extra)}.sqlite")
    return [sys.executable, "-m", "anima_caption", "tagdb", "import", str(tag_list),
            "--db", str(db), *extra]


def _on_a_terminal(command: list[str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal; its exit code, stdout and what the terminal got."""
    leader, follower = pty.openpty()
    # 24 rows, 100 columns: a new pseudo-terminal has no size, and tqdm draws nothing
    # in zero columns
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower
        )
    finally:
        os.close(follower)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    assert child.stdout is not None
    out = child.stdout.read().decode()
    child.stdout.close()
    return child.wait(timeout=60), out, seen.decode(errors="replace")


def test_bars_on_a_terminal(tag_list: Path) -> None:
    code, out, terminal = _on_a_terminal(_command(tag_list))
    assert code == 0, terminal
    assert out.startswith("built ") and "120,000 tags" in out and "\r" not in out
    assert f"reading {tag_list}" in terminal
    # A bar is drawn only for work that lasts over half a second: reading 120,000 rows
    # may be quicker than that on a fast machine, writing the database is not.
    if "reading:" in terminal:
        assert "kB" in terminal  # the file's bar
    assert "writing the database:" in terminal and "step" in terminal
    assert "\r" in terminal  # redrawn in place, then cleared (leave=False)
    assert "Traceback" not in terminal


def test_no_bars_in_a_pipe_or_when_asked(tag_list: Path) -> None:
    piped = subprocess.run(_command(tag_list), capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == f"reading {tag_list}\n"
    assert "120,000 tags" in piped.stdout
    code, out, terminal = _on_a_terminal(_command(tag_list, "--no-progress"))
    assert code == 0 and "120,000 tags" in out
    assert terminal.replace("\r\n", "\n") == f"reading {tag_list}\n"
