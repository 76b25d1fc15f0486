"""Progress bars: tqdm on a terminal only, nothing below the size floor, closed cleanly."""

from __future__ import annotations

import io
import subprocess
import sys

from anima_caption._progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_when_stderr_is_not_a_terminal() -> None:
    assert progress_bar(stream=io.StringIO()) is None


def test_a_bar_on_a_terminal_counts_and_closes() -> None:
    out = _Terminal()
    show = progress_bar("file", minimum=10, stream=out, delay=0, interval=0)
    assert show is not None
    for done in range(51):
        show(done, 50)
    drawn = out.getvalue()
    assert "50/50" in drawn and "file" in drawn
    show(-1, 0)
    assert out.getvalue() != drawn  # leave=False clears the line
    show(-1, 0)  # closing twice is harmless


def test_small_runs_draw_nothing() -> None:
    out = _Terminal()
    show = progress_bar("file", minimum=200, stream=out, delay=0, interval=0)
    assert show is not None
    for done in range(100):
        show(done, 100)
    show(-1, 0)
    assert out.getvalue() == ""


def test_tqdm_is_not_imported_without_a_terminal() -> None:
    script = (
        "import sys\n"
        "from anima_caption._progress import progress_bar\n"
        "assert progress_bar() is None\n"
        "print('tqdm' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
