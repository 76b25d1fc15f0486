"""A fork server for the ``anima-caption`` command line, so that many shell commands can run
it without paying Python's start-up and imports (~0.3-0.5 s) each time.

``python -m tests._cli_server SOCKET`` imports the package (every module, and the
libraries the commands import lazily), then listens on the Unix socket ``SOCKET``. The
client, ``write_client(PATH, SOCKET)``, is an ``anima-caption`` script to put first on ``PATH``: it
sends its arguments, working folder, environment and its standard input, output and error
(the file descriptors themselves) to the server, which forks; the child takes them over
and runs ``anima_caption.cli.main`` exactly as the console script does, then its exit
handlers, and answers with the exit code, which the client exits with. An exception
escaping ``main`` prints Python's traceback and exits 1, as the interpreter does. Each
command is still a process of its own, started from the same freshly imported state (the
server itself never runs a command). Used by tests/test_examples_run.py.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import pkgutil
import signal
import socket
import sys
import traceback
from pathlib import Path

_CLIENT = """\
#!{python} -IS
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect({socket!r})
body = json.dumps({{"argv": ["anima-caption", *sys.argv[1:]], "cwd": os.getcwd(),
                   "env": dict(os.environ)}}).encode()
socket.send_fds(s, [len(body).to_bytes(8, "big") + body], [0, 1, 2])
answer = b""
while chunk := s.recv(64):
    answer += chunk
if not answer:
    sys.stderr.write("anima-caption (test fork server): the command died without an exit code\\n")
sys.exit(int(answer) if answer else 1)
"""


def write_client(path: Path, socket_path: Path) -> None:
    """Write at ``path`` an ``anima-caption`` that runs through the server at ``socket_path``."""
    path.write_text(
        _CLIENT.format(python=sys.executable, socket=str(socket_path)), encoding="utf-8"
    )
    path.chmod(0o755)


def _prewarm() -> None:
    import anima_caption

    for info in pkgutil.walk_packages(anima_caption.__path__, "anima_caption."):
        if "serve" in info.name or info.name.endswith("__main__"):  # the web app; runs main
            continue
        with contextlib.suppress(Exception):  # an optional dependency that is not installed
            importlib.import_module(info.name)
    for name in ("openpyxl", "PIL.Image", "PIL.ImageOps", "yaml", "rapidfuzz", "sqlite3"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _exit_code(error: SystemExit) -> int:
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def _child(conn: socket.socket, request: dict[str, object], fds: list[int]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    env = dict(request["env"])  # type: ignore[call-overload]
    os.environ.clear()
    os.environ.update(env)
    os.chdir(str(request["cwd"]))
    argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
    sys.argv = argv
    from anima_caption.cli import main

    try:
        code = main(argv[1:])
    except SystemExit as error:
        code = _exit_code(error)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # what the interpreter would print
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        traceback.print_exc()
    try:
        conn.sendall(str(code).encode())
    finally:
        os._exit(code if isinstance(code, int) else 1)


def serve(path: str) -> None:
    _prewarm()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path + ".tmp")
    server.listen(128)
    os.rename(path + ".tmp", path)  # the socket appears once it listens
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    while True:
        conn, _ = server.accept()
        message, fds, _flags, _address = socket.recv_fds(conn, 1 << 16, 3)
        size = int.from_bytes(message[:8], "big")
        body = message[8:]
        while len(body) < size:
            chunk = conn.recv(1 << 16)
            if not chunk:
                break
            body += chunk
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            server.close()
            _child(conn, json.loads(body), fds)
        conn.close()
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    serve(sys.argv[1])
