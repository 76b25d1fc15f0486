"""Fast scanner: caption text → item-level intermediate representation (IR).

The syntax is defined once, in ``grammar/caption.lark``. This module reads the terminal
definitions from that file (so both share every regular expression) and implements the
grammar's structure by hand: separators split items, brackets nest, a closer of another
kind inside a group is stray, and an opener that is never closed reaches the end of the
text. ``anima_caption._grammar`` runs the real lark LALR parser over the same text; a
differential property test proves the two give identical IR for every input.

IR (plain tuples, cheap to build):

* ``("sep", start, end)`` — separator trivia: commas, line ends, horizontal space;
* ``("keep", start, end)`` — kohya's ``|||`` keep-tokens separator;
* ``("item", start, end, parts)`` — one item; ``parts`` lists only its notable pieces:
  ``(kind, start, end)`` with kind in ``esc kaomoji break ctrl stray open pipe weight``,
  or ``("group", start, end, bracket, inner)`` where ``inner`` is the IR between the
  brackets. ``open`` is an opener that is never closed (its contents follow it at the same
  level).

The header is returned separately: ``(dataset_span, title_span_or_None, end)`` or None.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from anima_caption._data import data_path

Part = tuple[Any, ...]
IR = tuple[Part, ...]
Header = tuple[tuple[int, int], tuple[int, int] | None, int]

_TERMINAL_LINE = re.compile(
    r'^(?P<name>[A-Z_]+)(?:\.(?P<prio>-?\d+))?:\s*(?:/(?P<regex>.*)/|"(?P<literal>[^"]*)")\s*$'
)

# Terminals that only exist in the header states of the grammar.
_HEADER_TERMINALS = frozenset({"DATASET", "HEADER_NL", "TITLE"})
_OPENERS = {"LPAR": ("(", "RPAR"), "LSQB": ("[", "RSQB"), "LBRACE": ("{", "RBRACE")}
_CLOSERS = frozenset({"RPAR", "RSQB", "RBRACE"})
_PART_OF_TOKEN = {
    "ESC": "esc",
    "KAOMOJI": "kaomoji",
    "BREAK": "break",
    "CTRL": "ctrl",
    "PIPE": "pipe",
    "WEIGHT": "weight",
    "RPAR": "stray",
    "RSQB": "stray",
    "RBRACE": "stray",
}
# Characters whose presence needs the full token loop; without them a body is only
# TEXT, SEP and WS tokens (plus whole-item BREAK and kaomoji) and is split in C.
_SLOW_CHARS = re.compile(r"[()\[\]{}|\\:\x00-\x08\x0e-\x1f\x7f\x85\u2028\u2029]")
_HSPACE = " \t\x0b\x0c\u00a0\u1680\u202f\u205f\u3000" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)


def grammar_text() -> str:
    """The text of ``grammar/caption.lark``."""
    return data_path("grammar/caption.lark").read_text("utf-8")


@cache
def terminals() -> tuple[tuple[str, str, int], ...]:
    """``(name, regex, priority)`` for every terminal in the grammar, in lexing order.

    Lexing order is lark's: higher priority first (the grammar gives overlapping terminals
    distinct priorities, so ties only occur between terminals that cannot overlap).
    """
    found: list[tuple[str, str, int]] = []
    for line in grammar_text().splitlines():
        match = _TERMINAL_LINE.match(line)
        if match is None:
            continue
        regex = match["regex"]
        if regex is None:
            regex = re.escape(match["literal"])
        found.append((match["name"], regex, int(match["prio"] or 1)))
    found.sort(key=lambda t: -t[2])
    return tuple(found)


class _Lexer:
    """Compiled patterns, built once from the grammar's terminals."""

    def __init__(self) -> None:
        table = {name: regex for name, regex, _ in terminals()}
        body = [(name, regex) for name, regex, _ in terminals() if name not in _HEADER_TERMINALS]
        self.master = re.compile("|".join(f"(?P<{name}>{regex})" for name, regex in body))
        self.dataset = re.compile(table["DATASET"])
        self.header_nl = re.compile(table["HEADER_NL"])
        self.title = re.compile(table["TITLE"])
        self.sep = re.compile(table["SEP"])
        self.kaomoji = re.compile(table["KAOMOJI"])


@cache
def _lexer() -> _Lexer:
    return _Lexer()


def scan(text: str) -> tuple[Header | None, IR]:
    """Scan ``text`` into its header (or None) and the item-level IR of the body."""
    lex = _lexer()
    header, pos = _scan_header(lex, text)
    if _SLOW_CHARS.search(text, pos) is None:
        return header, _fast_body(lex, text, pos)
    tokens = _tokens(lex, text, pos)
    nodes, _, _ = _nest(tokens, 0, None)
    return header, itemize(nodes)


def _scan_header(lex: _Lexer, text: str) -> tuple[Header | None, int]:
    dataset = lex.dataset.match(text)
    if dataset is None:
        return None, 0
    newline = lex.header_nl.match(text, dataset.end())
    assert newline is not None  # DATASET's lookahead guarantees a line end
    pos = newline.end()
    title_span = None
    title = lex.title.match(text, pos)
    if title is not None:
        title_nl = lex.header_nl.match(text, title.end())
        assert title_nl is not None  # TITLE's lookahead guarantees a line end
        title_span = (title.start(), title.end())
        pos = title_nl.end()
    return ((dataset.start(), dataset.end()), title_span, pos), pos


def _tokens(lex: _Lexer, text: str, pos: int) -> list[tuple[str, int, int]]:
    match = lex.master.match
    out: list[tuple[str, int, int]] = []
    append = out.append
    end = len(text)
    while pos < end:
        found = match(text, pos)
        assert found is not None, "the grammar is total: some terminal always matches"
        stop = found.end()
        append((found.lastgroup or "", pos, stop))
        pos = stop
    return out


def _nest(
    tokens: list[tuple[str, int, int]], i: int, closer: str | None
) -> tuple[list[Part], int, bool]:
    """Nest bracket groups, following the grammar's rules; returns (nodes, next index, closed)."""
    nodes: list[Part] = []
    n = len(tokens)
    while i < n:
        token = tokens[i]
        kind = token[0]
        if kind == closer:
            return nodes, i + 1, True
        opener = _OPENERS.get(kind)
        if opener is not None:
            bracket, own_closer = opener
            inner, i, closed = _nest(tokens, i + 1, own_closer)
            if closed:
                end = tokens[i - 1][2]
                nodes.append(("group", token[1], end, bracket, inner))
            else:
                end = inner[-1][2] if inner else token[2]
                nodes.append(("unclosed", token[1], end, token, inner))
            continue
        nodes.append(token)
        i += 1
    return nodes, i, False


def itemize(nodes: list[Part]) -> IR:
    """Turn nested tokens into the item-level IR (shared by the scanner and the lark path)."""
    out: list[Part] = []
    item_start = -1
    item_end = -1
    parts: list[Part] = []
    trivia_start = -1
    trivia_end = -1

    def flush_item() -> None:
        nonlocal item_start, parts
        if item_start >= 0:
            out.append(("item", item_start, item_end, tuple(parts)))
            item_start = -1
            parts = []

    def flush_trivia() -> None:
        nonlocal trivia_start
        if trivia_start >= 0:
            out.append(("sep", trivia_start, trivia_end))
            trivia_start = -1

    for node in _flatten_unclosed(nodes):
        kind = node[0]
        if kind == "WS" or kind == "SEP":
            if kind == "SEP":
                flush_item()
            if trivia_start < 0:
                trivia_start = node[1]
            trivia_end = node[2]
            continue
        if kind == "KEEP":
            flush_item()
            flush_trivia()
            out.append(("keep", node[1], node[2]))
            continue
        # A significant piece: it starts or continues an item.
        if item_start >= 0 and trivia_start >= 0:
            # Horizontal space between two pieces of one item is part of the item.
            trivia_start = -1
        else:
            flush_trivia()
        if item_start < 0:
            item_start = node[1]
        item_end = node[2]
        if kind == "group":
            parts.append(("group", node[1], node[2], node[3], itemize(node[4])))
        else:
            part_kind = _PART_OF_TOKEN.get(kind)
            if part_kind is not None:
                parts.append((part_kind, node[1], node[2]))
    if trivia_start >= 0 and item_start >= 0:
        flush_item()
    flush_item()
    flush_trivia()
    return tuple(out)


def _flatten_unclosed(nodes: list[Part]) -> list[Part]:
    """Replace an unclosed group by an ``open`` error token followed by its contents.

    Unclosed groups only end at the end of the text, so one is always the last node of
    its level and its parent, if any, is unclosed too.
    """
    if not nodes or nodes[-1][0] != "unclosed":
        return nodes
    flat = list(nodes[:-1])
    last = nodes[-1]
    while True:
        opener = last[3]
        flat.append(("OPEN", opener[1], opener[2]))
        inner = last[4]
        if inner and inner[-1][0] == "unclosed":
            flat.extend(inner[:-1])
            last = inner[-1]
            continue
        flat.extend(inner)
        return flat


_PART_OF_TOKEN["OPEN"] = "open"


def _fast_body(lex: _Lexer, text: str, pos: int) -> IR:
    """The body when it holds no brackets, pipes, colons, escapes or control characters.

    Then the only tokens are TEXT, SEP and WS (plus whole-item BREAK and kaomoji), and a
    regular-expression split gives the same IR as the token loop.
    """
    out: list[Part] = []
    kaomoji = lex.kaomoji.match

    def add_sep(start: int, end: int) -> None:
        if out and out[-1][0] == "sep" and out[-1][2] == start:
            out[-1] = ("sep", out[-1][1], end)
        else:
            out.append(("sep", start, end))

    def segment(start: int, end: int) -> None:
        piece = text[start:end]
        first = start + len(piece) - len(piece.lstrip(_HSPACE))
        if first == end:
            add_sep(start, end)
            return
        last = start + len(piece.rstrip(_HSPACE))
        if first > start:
            add_sep(start, first)
        out.append(_plain_item(text, first, last, kaomoji))
        if last < end:
            add_sep(last, end)

    for found in lex.sep.finditer(text, pos):
        start = found.start()
        if start > pos:
            segment(pos, start)
        add_sep(start, found.end())
        pos = found.end()
    if pos < len(text):
        segment(pos, len(text))
    return tuple(out)


def _plain_item(text: str, start: int, end: int, kaomoji: Any) -> Part:
    if end - start <= 8:
        word = text[start:end]
        if word == "BREAK":
            return ("item", start, end, (("break", start, end),))
        found = kaomoji(text, start)
        if found is not None and found.end() == end:
            return ("item", start, end, (("kaomoji", start, end),))
    return ("item", start, end, ())
