"""Normalising a single tag's written form (shared by the parser, the database and rules)."""

from __future__ import annotations

import re

_SCORE_RE = re.compile(r"score[ _]([0-9]+)")
_WS_RE = re.compile(r"[\s_]+")
# A backslash and the character after it, paired left to right as the grammar's ESC token
# pairs them: in ``\\(`` the backslash is escaped, not the bracket.
_ESCAPE_RE = re.compile(r"\\([^\r\n])")
_PAIRS = {")": "(", "]": "["}


def is_score_form(text: str) -> bool:
    """True for ``score_7`` / ``score 7`` (any digits), the only underscore-bearing form."""
    return _SCORE_RE.fullmatch(text.strip().lower()) is not None


def normalize_tag(raw: str, *, kaomoji: bool = False) -> str:
    """Normalised written form of a tag.

    Lowercase; backslash escapes removed (``\\(`` → ``(``); underscores and runs of
    whitespace become one space, except in score tags (``score_7``) and kaomoji (``^_^``),
    which keep their characters. A leading ``@`` is kept (it is part of how the tag is
    written); use :func:`tag_name` for the bare name.
    """
    text = raw.strip()
    if kaomoji:
        return text.lower()
    if "\\" in text:
        text = _unescape(text)
    text = text.lower()
    match = _SCORE_RE.fullmatch(text)
    if match is not None:
        return f"score_{match.group(1)}"
    if "_" in text or "  " in text or "\t" in text or "\n" in text:
        spaced = _WS_RE.sub(" ", text).strip()
        # A tag made only of underscores has no spaced form; keep it as written.
        text = spaced or text
    return text


def tag_name(text: str) -> str:
    """The bare name of a normalised tag: without the ``@`` artist prefix."""
    return text[1:].lstrip() if text.startswith("@") else text


#: ``db_key`` answers by spelling (a pure function of the text; bounded: cleared when full).
_DB_KEYS: dict[str, str] = {}
_DB_KEYS_LIMIT = 1 << 17


def db_key(raw: str) -> str:
    """Key under which a tag is stored and looked up: normalised, no ``@``.

    ``Side_Ponytail``, ``side ponytail`` and ``@side ponytail`` share one key.
    """
    key = _DB_KEYS.get(raw)
    if key is None:
        key = tag_name(normalize_tag(raw))
        if len(_DB_KEYS) >= _DB_KEYS_LIMIT:
            _DB_KEYS.clear()
        _DB_KEYS[raw] = key
    return key


def _unescape(text: str) -> str:
    """Remove ``\\`` before brackets, unless that would make the brackets syntax.

    ``ganyu \\(genshin impact\\)`` → ``ganyu (genshin impact)``. Kept escaped: unbalanced
    brackets and a bracket at the very start (``\\(smile\\)`` unescaped would be an emphasis
    group, a different thing). Other backslashes are left alone.
    """
    plain = _ESCAPE_RE.sub(_unescape_pair, text)
    if plain == text:
        return text
    if plain[:1] in "([" or not _balanced(plain) or not _reads_as_one_tag(plain):
        return text
    return plain


def _reads_as_one_tag(text: str) -> bool:
    """True when ``text``, written out, parses back as one plain tag item.

    Unescaped brackets must become qualifier groups, not prompt syntax: in ``|(|;)`` the
    ``;)`` would read as a kaomoji and leave the ``(`` unclosed.
    """
    from anima_caption._scanner import scan

    header, ir = scan(text)
    if header is not None or len(ir) != 1 or ir[0][0] != "item":
        return False
    start, end, parts = ir[0][1], ir[0][2], ir[0][3]
    if start != 0 or end != len(text):
        return False
    for part in parts:
        if part[0] != "group" and part[0] != "esc":
            return False
    return not (len(parts) == 1 and parts[0][1] == 0 and parts[0][2] == end)


def _unescape_pair(match: re.Match[str]) -> str:
    char = match.group(1)
    return char if char in "()[]" else match.group(0)


def _balanced(text: str) -> bool:
    stack: list[str] = []
    for char in text:
        if char in "([":
            stack.append(char)
        elif char in ")]" and (not stack or stack.pop() != _PAIRS[char]):
            return False
    return not stack
