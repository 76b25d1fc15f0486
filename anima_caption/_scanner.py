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
  ``(kind, start, end)`` with kind in ``esc kaomoji break ctrl stray open deep pipe weight``,
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
_T = r"[^\s,()\[\]{}|\\:\x00-\x08\x0e-\x1f\x7f\x85\u2028\u2029]"
_H = r"[ \t\x0b\x0c\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"
_TEXT = f"{_T}+(?:{_H}+{_T}+)*"
# "saber alter (ver. shinjuku 1999) (fate)": text, then bracketed qualifiers, nothing else.
_QUALIFIED = re.compile(f"{_TEXT}(?:{_H}*\\({_TEXT}\\))+")
_GROUP_IN_QUALIFIED = re.compile(f"\\({_TEXT}\\)")
# "ganyu \(genshin impact\)": text with escaped parentheses only.
_ESCAPED = re.compile(f"(?:{_T}|{_H}|\\\\[()])+")
_ESC_PAIR = re.compile(r"\\[()]")
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
        self.split = re.compile(f"({table['SEP']})").split
        # SEP with its leading space moved out: a pattern that starts at a comma or line
        # end lets the regex engine skip ahead, where SEP itself is tried at every space.
        # ``_split`` moves the space back; the result equals ``self.split``.
        self.split_at_sep_char = re.compile(f"([,\\r\\n](?:{_H}*[,\\r\\n])*{_H}*)").split
        self.kaomoji = re.compile(table["KAOMOJI"])


@cache
def _lexer() -> _Lexer:
    return _Lexer()


def scan(text: str) -> tuple[Header | None, IR]:
    """Scan ``text`` into its header (or None) and the item-level IR of the body."""
    lex = _lexer()
    header, pos = _scan_header(lex, text)
    first_slow = _SLOW_CHARS.search(text, pos)
    if first_slow is None:
        return header, _fast_body(lex, text, pos)
    body = _segmented_body(lex, text, pos, first_slow=first_slow.start())
    if body is not None:
        return header, body
    tokens = _tokens(lex, text, pos, len(text))
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


def _tokens(lex: _Lexer, text: str, pos: int, end: int) -> list[tuple[str, int, int]]:
    match = lex.master.match
    out: list[tuple[str, int, int]] = []
    append = out.append
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
    """Nest bracket groups, following the grammar's rules; returns (nodes, next index, closed).

    Iterative (an explicit stack, not recursion): a caption may hold brackets nested
    thousands deep, and they must not exhaust Python's stack. ``closer`` closes the outer
    level when given (the outer level itself never counts as an open group).
    """
    stack: list[tuple[list[Part], str | None, tuple[str, int, int]]] = []
    nodes: list[Part] = []
    want = closer
    n = len(tokens)
    while i < n:
        token = tokens[i]
        kind = token[0]
        if kind == want:
            if not stack:
                return nodes, i + 1, True
            parent, parent_want, opener = stack.pop()
            parent.append(("group", opener[1], token[2], _OPENERS[opener[0]][0], nodes))
            nodes, want = parent, parent_want
            i += 1
            continue
        opens = _OPENERS.get(kind)
        if opens is not None:
            stack.append((nodes, want, token))
            nodes, want = [], opens[1]
            i += 1
            continue
        nodes.append(token)
        i += 1
    while stack:  # openers never closed reach the end of the text
        parent, parent_want, opener = stack.pop()
        end = nodes[-1][2] if nodes else opener[2]
        parent.append(("unclosed", opener[1], end, opener, nodes))
        nodes, want = parent, parent_want
    return nodes, i, False


#: Bracket groups nested deeper than this are not built: the whole outermost group that
#: goes too deep becomes one error item (no real caption nests more than a few levels, and
#: every stage that walks the tree must stay far from Python's recursion limit).
MAX_NESTING = 32


def itemize(nodes: list[Part], depth: int = 0) -> IR:
    """Turn nested tokens into the item-level IR (shared by the scanner and the lark path).

    A group whose contents would sit more than :data:`MAX_NESTING` levels deep is not
    itemized: its item gets a ``deep`` error part at its opening bracket.
    """
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
            if depth >= MAX_NESTING:
                parts.append(("deep", node[1], node[1] + 1))
            else:
                parts.append(("group", node[1], node[2], node[3], itemize(node[4], depth + 1)))
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
    body = _segmented_body(lex, text, pos, plain=True)
    assert body is not None
    return body


def _split(lex: _Lexer, text: str) -> list[str]:
    """``lex.split(text)``, faster: see ``_Lexer.split_at_sep_char``."""
    pieces: list[str] = lex.split_at_sep_char(text)
    for index in range(0, len(pieces) - 1, 2):
        piece = pieces[index]
        if piece and piece[-1] in _HSPACE:
            kept = piece.rstrip(_HSPACE)
            pieces[index] = kept
            pieces[index + 1] = piece[len(kept) :] + pieces[index + 1]
    return pieces


def _segmented_body(
    lex: _Lexer, text: str, pos: int, *, plain: bool = False, first_slow: int = 0
) -> IR | None:
    """Split the body at separators first, then scan only the segments that need it.

    Equal to the token loop as long as no bracket group spans a separator and no
    separator is escaped; when either could happen, returns None and the caller runs the
    full token loop. Separators absorb the space around them, so only the first and the
    last segment can have space at their edges.
    """
    out: list[Part] = []
    append = out.append
    kaomoji = lex.kaomoji.match
    slow_search = _SLOW_CHARS.search
    # Position of the next character that needs the slow path (len(text) when none is
    # left). Separators hold none, so a piece needs it iff next_slow < its end.
    next_slow = len(text) if plain else first_slow
    if not plain and first_slow < pos:
        found_slow = slow_search(text, pos)
        next_slow = len(text) if found_slow is None else found_slow.start()
    pieces = _split(lex, text[pos:]) if pos else _split(lex, text)
    last_index = len(pieces) - 1
    offset = pos
    for index in range(0, last_index + 1, 2):
        piece = pieces[index]
        size = len(piece)
        if size:
            start = offset
            end = offset + size
            if next_slow < end:
                found_slow = slow_search(text, end)
                next_slow = len(text) if found_slow is None else found_slow.start()
                quick = _quick_segment(lex, piece, start, end)
                if quick is not None:
                    append(quick)
                    offset = end
                    if index < last_index:
                        sep_end = offset + len(pieces[index + 1])
                        append(("sep", offset, sep_end))
                        offset = sep_end
                    continue
                if piece[-1] == "\\" and index < last_index:
                    return None  # an escaped separator: the token loop decides
                nodes, _, _ = _nest(_tokens(lex, text, start, end), 0, None)
                if nodes and nodes[-1][0] == "unclosed" and index < last_index:
                    return None  # a group may continue past the separator
                for entry in itemize(nodes):
                    if entry[0] == "sep" and out and out[-1][0] == "sep" and out[-1][2] == entry[1]:
                        out[-1] = ("sep", out[-1][1], entry[2])
                    else:
                        append(entry)
            else:
                if index == 0 or index == last_index:
                    stripped = piece.lstrip(_HSPACE) if index == 0 else piece
                    first = start + size - len(stripped)
                    stripped = stripped.rstrip(_HSPACE) if index == last_index else stripped
                    if not stripped:
                        _add_sep(out, start, end)
                        offset = end
                        if index < last_index:
                            sep_end = end + len(pieces[index + 1])
                            _add_sep(out, end, sep_end)
                            offset = sep_end
                        continue
                    if first > start:
                        _add_sep(out, start, first)
                    stop = first + len(stripped)
                    append(
                        _plain_item(text, first, stop, kaomoji)
                        if len(stripped) <= 8
                        else ("item", first, stop, ())
                    )
                    if stop < end:
                        _add_sep(out, stop, end)
                elif size <= 8:
                    append(_plain_item(text, start, end, kaomoji))
                else:
                    append(("item", start, end, ()))
            offset = end
        if index < last_index:
            sep_end = offset + len(pieces[index + 1])
            if out and out[-1][0] == "sep" and out[-1][2] == offset:
                out[-1] = ("sep", out[-1][1], sep_end)
            else:
                append(("sep", offset, sep_end))
            offset = sep_end
    return tuple(out)


def _quick_segment(lex: _Lexer, piece: str, start: int, end: int) -> Part | None:
    """IR of two common special segments without the token loop, or None.

    ``name (qualifier)`` and ``name \\(qualifier\\)``; anything that might lex
    differently (edge space, a trailing kaomoji or BREAK after an escape, ``^``) is left to
    the token loop. The differential test checks this against the grammar.
    """
    if piece[0] in _HSPACE or piece[-1] in _HSPACE:
        return None
    if _QUALIFIED.fullmatch(piece) is not None:
        groups = tuple(
            (
                "group",
                start + m.start(),
                start + m.end(),
                "(",
                (("item", start + m.start() + 1, start + m.end() - 1, ()),),
            )
            for m in _GROUP_IN_QUALIFIED.finditer(piece)
        )
        return ("item", start, end, groups)
    if "^" not in piece and _ESCAPED.fullmatch(piece) is not None:
        escapes = list(_ESC_PAIR.finditer(piece))
        tail = piece[escapes[-1].end() :]
        if tail[:1] in _HSPACE:
            word = tail.lstrip(_HSPACE)
            if word == "BREAK" or lex.kaomoji.fullmatch(word) is not None:
                return None
        return (
            "item",
            start,
            end,
            tuple(("esc", start + m.start(), start + m.end()) for m in escapes),
        )
    return None


def _add_sep(out: list[Part], start: int, end: int) -> None:
    if out and out[-1][0] == "sep" and out[-1][2] == start:
        out[-1] = ("sep", out[-1][1], end)
    else:
        out.append(("sep", start, end))


def _plain_item(text: str, start: int, end: int, kaomoji: Any) -> Part:
    """A short item without special characters: BREAK, a kaomoji or plain text."""
    if text[start:end] == "BREAK":
        return ("item", start, end, (("break", start, end),))
    found = kaomoji(text, start)
    if found is not None and found.end() == end:
        return ("item", start, end, (("kaomoji", start, end),))
    return ("item", start, end, ())
