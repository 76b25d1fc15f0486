"""Issue 15 item 14 (part): every example path that README and ``--help`` name exists.

``--help`` named ``examples/kanachan_angry.txt``, which does not exist. This checks the
paths under ``examples/`` in every command's help and in the README; running each example
as written from a clean copy: tests/test_examples_run.py.
"""

from __future__ import annotations

import re

from anima_caption.cli import build_parser
from tests.conftest import REPO

_PATH = re.compile(r"(?<![\w/.-])(examples/[\w./-]*\w)")


def _help_texts() -> dict[str, str]:
    parser = build_parser()
    texts = {"anima-caption": parser.format_help()}
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, sub in getattr(action, "choices", {}).items():
            texts[name] = sub.format_help()
            for inner in sub._subparsers._group_actions if sub._subparsers else []:
                for inner_name, leaf in getattr(inner, "choices", {}).items():
                    texts[f"{name} {inner_name}"] = leaf.format_help()
    return texts


def test_every_example_path_in_help_and_readme_exists() -> None:
    texts = {**_help_texts(), "README.md": (REPO / "README.md").read_text(encoding="utf-8")}
    missing = sorted(
        f"{where}: {path}"
        for where, text in texts.items()
        for path in _PATH.findall(text)
        if not (REPO / path).exists()
    )
    assert not missing, missing
    assert len(texts) > 10  # the subcommands were found


def test_report_help_does_not_offer_review_options() -> None:
    assert "--propose" not in _help_texts()["report"]
