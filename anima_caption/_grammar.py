"""The lark parser built from ``grammar/caption.lark`` (reference implementation).

Parsing (``parse(..., strict=True)`` included) uses the fast scanner in
:mod:`anima_caption._scanner`; this module runs the real LALR parser over the same grammar
and reduces its tree to the same IR, for the differential tests that prove the scanner
equal to the grammar. Nothing imports it at run time, so lark is a test dependency (the
``dev`` extra), imported only when :func:`lark_parser` is first called. Lark exceptions
never leave this module.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from anima_caption._errors import AnimaCaptionError
from anima_caption._scanner import IR, Header, Part, grammar_text, itemize


@lru_cache(maxsize=1)
def lark_parser() -> Any:
    """The LALR parser, built once."""
    from lark import Lark

    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def lark_scan(text: str) -> tuple[Header | None, IR]:
    """Parse ``text`` with lark and return the same (header, IR) as :func:`scan`."""
    from lark.exceptions import LarkError

    try:
        tree = lark_parser().parse(text)
    except LarkError as error:  # the grammar is total, so this is a bug in the grammar
        raise AnimaCaptionError(f"internal grammar error: {error}") from None
    header = None
    nodes: list[Part] = []
    for child in tree.children:
        if getattr(child, "data", None) == "header":
            tokens = child.children
            dataset = (tokens[0].start_pos, tokens[0].end_pos)
            title = (tokens[2].start_pos, tokens[2].end_pos) if len(tokens) > 2 else None
            header = (dataset, title, tokens[-1].end_pos)
        else:
            nodes.append(_node(child))
    return header, itemize(nodes)


def _node(child: Any) -> Part:
    data = getattr(child, "data", None)
    if data is None:  # a token
        return (child.type, child.start_pos, child.end_pos)
    kids = child.children
    opener = kids[0]
    if data == "unclosed":
        inner = [_node(k) for k in kids[1:]]
        end = inner[-1][2] if inner else opener.end_pos
        return ("unclosed", opener.start_pos, end, _node(opener), inner)
    inner = [_node(k) for k in kids[1:-1]]
    return ("group", opener.start_pos, kids[-1].end_pos, opener.value, inner)
