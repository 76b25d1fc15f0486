"""Helpers for the hostile-dataset suite: run the real command line in a subprocess.

A dataset is untrusted input. These tests build hostile datasets out of real files
(planted journals, bomb images and configs, symlinks and hardlinks, crafted sheets) and
run ``anima-caption`` on them as a user would: in a child process with a time limit, so a
hang or a memory blow-up fails the test instead of stalling the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    code: int
    out: str
    err: str
    peak_kb: int

    def no_traceback(self) -> None:
        """Problems were reported as messages, not as a Python traceback."""
        assert "Traceback" not in self.err, self.err[-3000:]


def run_cli(
    *args: str | Path,
    cwd: Path | None = None,
    timeout: float = 60,
    memory_mb: int | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """``anima-caption ARGS`` in a child process; ``memory_mb`` caps its address space."""
    code = (
        "import resource, sys\n"
        "limit = int(sys.argv[1])\n"
        "if limit:\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (limit << 20, limit << 20))\n"
        "from anima_caption.cli import main\n"
        "status = main(sys.argv[2:])\n"
        # ru_maxrss keeps the parent's high-water mark across fork and exec (Linux), so a
        # child of a large pytest process would report pytest's size; VmHWM is this
        # process's own.
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    with open('/proc/self/status') as status_file:\n"
        "        for line in status_file:\n"
        "            if line.startswith('VmHWM:'):\n"
        "                peak = int(line.split()[1])\n"
        "except OSError:\n"
        "    pass\n"
        "sys.stderr.write(f'\\n@peak {peak}\\n')\n"
        "sys.exit(status)\n"
    )
    full_env = {**os.environ, **(env or {})}
    process = subprocess.run(
        [sys.executable, "-c", code, str(memory_mb or 0), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    err = process.stderr
    peak = 0
    if "\n@peak " in err:
        err, _, tail = err.rpartition("\n@peak ")
        peak = int(tail.split()[0])
    return Run(process.returncode, process.stdout, err, peak)
