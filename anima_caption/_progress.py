"""Progress bars on stderr through tqdm, only when stderr is a terminal.

Commands report progress as ``show(done, total)`` and close the bar with ``show(-1, 0)``;
:func:`progress_bar` gives such a callable, or ``None`` where no bar is drawn (stderr is
not a terminal: CI logs, pipes, pre-commit). tqdm is imported only then, so ``check`` in
a hook never loads it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def progress_bar(
    unit: str = "file",
    minimum: int = 200,
    stream: Any = None,
    delay: float = 0.5,
    interval: float = 0.1,
    desc: str | None = None,
) -> Callable[[int, int], None] | None:
    """``show(done, total)`` drawing a tqdm bar on ``stream`` (stderr), or ``None`` when it
            is not a terminal. Runs of fewer than ``minimum`` items draw nothing; ``show(-1, 0)``
            closes the bar and clears its line. Nothing is drawn for the first ``delay`` seconds, so
        quick runs leave the terminal as it was; the bar is redrawn at most every ``interval``
    seconds. ``desc`` is written before the bar (what it counts)."""
    out = sys.stderr if stream is None else stream
    if not out.isatty():
        return None
    from tqdm import tqdm

    bar: list[Any] = []

    def show(done: int, total: int) -> None:
        if done < 0:
            if bar:
                bar.pop().close()
            return
        if total < minimum:
            return
        if not bar:
            bar.append(
                tqdm(
                    total=total,
                    unit=unit,
                    desc=desc,
                    file=out,
                    leave=False,
                    dynamic_ncols=True,
                    delay=delay,
                    mininterval=interval,
                    miniters=1,
                )
            )
        current = bar[0]
        if total != current.total:
            current.total = total
        current.update(done - current.n)

    return show
