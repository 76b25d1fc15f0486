"""Dataset rules: they read every caption of a dataset at once (and the images beside them).

A run checks 100,000 captions at thousands of files a second, and these rules run in the main
process after the workers, so they share one :class:`DatasetIndex` (built on first use and
kept on the :class:`DatasetContext`): each caption's tag texts as a frozenset, the first file
holding each text, and per-text counts. Per caption that is a few set operations done in C,
instead of a dict or set built per rule and caption in Python.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from functools import cached_property
from operator import attrgetter, itemgetter
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from anima_caption._check._registry import Finding, Rule
from anima_caption._kinds import Kind

if TYPE_CHECKING:
    from anima_caption._check._context import DatasetContext, DatasetEntry, TagSummary
    from anima_caption._check._spill import CaptionSpill

_EMPTY: frozenset[str] = frozenset()
_text_of = itemgetter(0)  # TagSummary.text
_tags_of = attrgetter("tags")


class DatasetIndex:
    """What the dataset rules share, computed once per dataset (each part on first use).

    Relies on what :meth:`DatasetEntry.of` guarantees: a tag's name, kind and kaomoji flag
    follow from its text (one parse, one database and one configuration per run), so one
    summary per text stands for every occurrence.
    """

    def __init__(self, captions: Sequence[DatasetEntry], images: list[Path]) -> None:
        self.captions = captions
        self.images = images
        #: Per caption: the texts of its tags (None when the file could not be decoded).
        self.texts: list[frozenset[str] | None] = []
        #: Per text, in order of first appearance: the first caption holding it, and a
        #: summary of the tag. Only captions bringing a new text are looked at tag by tag.
        self.first: dict[str, int] = {}
        self.summary: dict[str, TagSummary] = {}
        first, summary, append = self.first, self.summary, self.texts.append
        seen: set[str] = set()
        for i, tags in enumerate(map(_tags_of, captions)):
            if tags is None:
                append(None)
                continue
            texts = frozenset(map(_text_of, tags))
            append(texts)
            if texts <= seen:
                continue
            seen |= texts
            for tag in tags:
                text = tag.text
                if text not in first:
                    first[text] = i
                    summary[text] = tag

    def frequent(self, texts: Collection[str], share: float) -> Counter[str]:
        """How many captions hold each of ``texts`` that ``share`` of the captions with
        tags (or more) hold; the texts held by fewer may be left out.

        Counts the first half of the captions, then in the second half only the texts that
        can still reach ``share`` (a handful): about half the work of counting everything.
        """
        sets = [self.texts[i] for i in self.tagged]
        total = len(sets)
        half = total // 2
        first_half = self._counter(texts, sets[:half])
        rest = total - half
        kept = [t for t in texts if first_half[t] + rest >= share * total]
        second_half = self._counter(kept, sets[half:])
        return Counter({text: first_half[text] + second_half[text] for text in kept})

    def _counter(self, texts: Collection[str], sets: list[frozenset[str] | None]) -> Counter[str]:
        """How many of ``sets`` hold each of ``texts`` (and perhaps other texts)."""
        chain = itertools.chain.from_iterable
        if 2 * len(texts) > len(self.summary):  # most texts: count them all
            return Counter(chain(filter(None, sets)))
        # Intersecting each caption's set with a few texts costs one lookup per tag,
        # counting a text three dict operations.
        wanted = frozenset(texts).intersection
        return Counter(chain(map(wanted, filter(None, sets))))

    @cached_property
    def tagged(self) -> list[int]:
        """The captions with at least one tag."""
        return [i for i, texts in enumerate(self.texts) if texts]

    @cached_property
    def by_name(self) -> dict[str, list[str]]:
        """Tag name → the texts with that name (``@kanachan`` and ``kanachan``)."""
        out: dict[str, list[str]] = {}
        for text, tag in self.summary.items():
            spellings = out.get(tag.name)
            if spellings is None:
                out[tag.name] = [text]
            else:
                spellings.append(text)
        return out

    def holders(self, texts: Iterable[str]) -> dict[str, list[int]]:
        """The captions holding each of ``texts``, in order (one pass for all of them)."""
        out: dict[str, list[int]] = {text: [] for text in texts}
        wanted = frozenset(out)
        if not wanted:
            return out
        isdisjoint = wanted.isdisjoint
        for i, own in enumerate(self.texts):
            if own and not isdisjoint(own):
                for text in wanted.intersection(own):
                    out[text].append(i)
        return out

    @cached_property
    def posix(self) -> bool:
        """True when every path is a POSIX path: its string is then its normal form, and
        comparing strings is comparing paths (and several times faster)."""
        return all(isinstance(c.path, PurePosixPath) for c in self.captions) and all(
            isinstance(p, PurePosixPath) for p in self.images
        )

    @cached_property
    def caption_keys(self) -> list[object]:
        """Per caption: its path without the extension (see :func:`_stem_key`)."""
        posix = self.posix
        return [_stem_key(c.path, posix) for c in self.captions]

    @cached_property
    def image_keys(self) -> list[object]:
        """Per image: its path without the extension (see :func:`_stem_key`)."""
        posix = self.posix
        return [_stem_key(p, posix) for p in self.images]

    def tagged_texts(self) -> Iterator[tuple[int, frozenset[str]]]:
        """``(caption, its tag texts)`` for the captions with at least one tag, in order."""
        texts = self.texts
        for i in self.tagged:
            yield i, texts[i]  # type: ignore[misc]  # tagged: not None

    def duplicates(self) -> Iterator[tuple[int, int]]:
        """``(caption, the first caption with the same tags and sentences)`` for each
        caption repeating an earlier one (the same tag set as a frozenset: equal sets,
        whatever the order and repeats), in order."""
        first: dict[tuple[frozenset[str], tuple[str, ...]], int] = {}
        setdefault = first.setdefault
        for i, (caption, texts) in enumerate(zip(self.captions, self.texts, strict=True)):
            sentences = caption.sentences
            if not texts and not sentences:
                continue
            original = setdefault((texts or _EMPTY, sentences), i)
            if original != i:
                yield i, original


class SpilledIndex(DatasetIndex):
    """The index of a :class:`~anima_caption._check._spill.CaptionSpill`: what is per
    distinct tag is in memory (kept by the spill as it was written), what is per caption
    is read from the file when a rule passes over it."""

    def __init__(self, captions: CaptionSpill, images: list[Path]) -> None:
        self.captions = captions
        self.images = images
        self.spill = captions
        self.texts = _SpilledTexts(captions)  # type: ignore[assignment]
        self.first = captions.first
        self.summary = dict(zip(captions.text_of, captions.tags, strict=True))

    def frequent(self, texts: Collection[str], share: float) -> Counter[str]:
        """How many captions hold each of ``texts`` (exact: the spill counted them)."""
        ids, holding = self.spill.ids, self.spill.holding
        return Counter({text: holding[ids[text]] for text in texts})

    @property
    def tagged(self) -> Sequence[int]:  # type: ignore[override]
        """The captions with at least one tag (counted; iterated from the file)."""
        return _Tagged(self.spill)

    def tagged_texts(self) -> Iterator[tuple[int, frozenset[str]]]:
        for i, texts in enumerate(self.spill.texts()):
            if texts:
                yield i, texts

    def duplicates(self) -> Iterator[tuple[int, int]]:
        # The spill's keys sort on disk; the findings come in key order (the engine
        # sorts every diagnostic by path afterwards, and a caption has at most one).
        return self.spill.duplicates()


class _SpilledTexts(Sequence[frozenset[str] | None]):
    def __init__(self, spill: CaptionSpill) -> None:
        self.spill = spill

    def __len__(self) -> int:
        return len(self.spill)

    def __iter__(self) -> Iterator[frozenset[str] | None]:
        return self.spill.texts()

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.spill.texts_at(i) for i in range(*index.indices(len(self.spill)))]
        return self.spill.texts_at(index)


class _Tagged(Sequence[int]):
    def __init__(self, spill: CaptionSpill) -> None:
        self.spill = spill

    def __len__(self) -> int:
        return self.spill.tagged

    def __iter__(self) -> Iterator[int]:
        return (i for i, texts in enumerate(self.spill.texts()) if texts)

    def __getitem__(self, index: Any) -> Any:
        return list(self)[index]


def dataset_index(ctx: DatasetContext) -> DatasetIndex:
    """The index of ``ctx`` (built on first use, then shared by the rules)."""
    from anima_caption._check._spill import CaptionSpill

    index = ctx.shared.get("index")
    if (
        not isinstance(index, DatasetIndex)
        or index.captions is not ctx.captions
        or index.images is not ctx.images
    ):
        captions = ctx.captions
        if isinstance(captions, CaptionSpill):
            index = SpilledIndex(captions, ctx.images)
        else:
            index = DatasetIndex(captions, ctx.images)
        ctx.shared["index"] = index
    return index


def _stem_key(path: Path, posix: bool) -> object:
    """``path.with_suffix("")``; for POSIX paths its string, made without a new path."""
    if not posix:
        return path.with_suffix("")
    text = str(path)
    name = text.rfind("/") + 1
    dot = text.rfind(".")
    return text[:dot] if name < dot < len(text) - 1 else text


def _parent_key(path: Path, posix: bool) -> object:
    """``path.parent``; for POSIX paths its string, made without a new path."""
    if not posix:
        return path.parent
    text = str(path)
    slash = text.rfind("/")
    if slash < 0:
        return "."
    head = text[:slash]
    return head if head.strip("/") else text[: slash + 1]  # "/" and "//" are roots


class ImageWithoutCaption(Rule):
    """An image with no caption file.

    What it does: reports images (the extensions trainers load: png, jpg, jpeg, webp, bmp,
    avif, jxl) that have no caption file with the same name.

    Why: trainers either skip the image or train it with an empty caption, which teaches the
    trigger nothing.

    Example: `0007.png` without `0007.txt`.

    Fix safety: no fix — write the caption.
    """

    code = "DS001"
    slug = "image-without-caption"
    scope = "dataset"

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        if not ctx.images:
            return
        index = dataset_index(ctx)
        captioned = set(index.caption_keys)
        extensions = ", ".join(ctx.config.caption_extensions)
        for image, key in zip(ctx.images, index.image_keys, strict=True):
            if key not in captioned:
                yield Finding(f"image has no caption file ({extensions})", path=str(image))


class CaptionWithoutImage(Rule):
    """A caption file with no image.

    What it does: in folders that hold images, reports caption files with no image of the
    same name.

    Why: an orphan caption usually means a renamed or deleted image — or a caption that was
    meant for a different image.

    Example: `0007.txt` when the folder has `0001.png` … `0006.png`.

    Fix safety: no fix.
    """

    code = "DS002"
    slug = "caption-without-image"
    scope = "dataset"

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        if not ctx.images:
            return
        index = dataset_index(ctx)
        posix = index.posix
        images = set(index.image_keys)
        folders_with_images = {_parent_key(i, posix) for i in ctx.images}
        for caption, key in zip(ctx.captions, index.caption_keys, strict=True):
            if key not in images and _parent_key(caption.path, posix) in folders_with_images:
                yield Finding("caption file has no image", path=caption.display)


class DuplicateCaption(Rule):
    """Two files with the same caption.

    What it does: reports captions whose tags and sentences equal another file's (after
    normalising spelling, order and spacing).

    Why: different images with identical captions teach the model that the differences do
    not matter — often a copy-paste mistake.

    Example: `a.txt` and `b.txt` both `1girl, smile, kanachan`.

    Fix safety: no fix.
    """

    code = "DS003"
    slug = "duplicate-caption"
    scope = "dataset"

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        captions = ctx.captions
        for i, original in dataset_index(ctx).duplicates():
            yield Finding(f"same caption as {captions[original].display}", path=captions[i].display)


_SQUASHABLE = re.compile(r"[\s_\-]+")


def _squash(text: str) -> str:
    return _SQUASHABLE.sub("", text)


class InconsistentSpelling(Rule):
    """One tag spelled two ways across the dataset.

    What it does: groups tags that differ only in spaces, hyphens or underscores, or that
    the tag database says are the same tag (an alias and its target), and reports the files
    using the less common spelling.

    Why: the model sees two different token sequences for one concept, and each gets half
    the training signal (`double parted bangs` in some files, `double-parted bangs` in
    others).

    Example: `twin tails` in 3 files, `twintails` in 40.

    Fix safety: no automatic fix; use `anima-caption edit --replace` to unify.
    """

    code = "DS004"
    slug = "inconsistent-spelling"
    scope = "dataset"

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        index = dataset_index(ctx)
        # The spellings of each tag, in order of first appearance: texts whose names squash
        # to one key, merged with the database's aliases when there is one.
        spellings: dict[str, list[str]] = defaultdict(list)
        for text, tag in index.summary.items():
            if not tag.kaomoji:
                spellings[_squash(tag.name)].append(text)
        if ctx.db is not None and ctx.db.has_danbooru_data:
            canonical: dict[str, str] = {}
            names = [text for texts in spellings.values() for text in texts]
            for text, info in zip(names, ctx.db.lookup_many(names), strict=True):
                if info.canonical is not None:
                    canonical[text] = _squash(info.canonical)
            merged: dict[str, list[str]] = defaultdict(list)
            for key, texts in spellings.items():
                for text in texts:
                    merged[canonical.get(text, key)].append(text)
            spellings = merged
        groups = [texts for texts in spellings.values() if len(texts) > 1]
        if not groups:
            return
        # Only the tags spelled two ways need their files, and their counts are how many.
        files = index.holders(text for texts in groups for text in texts)
        captions = ctx.captions
        for texts in groups:
            counter = Counter({text: len(files[text]) for text in texts})
            (main, main_count), *others = counter.most_common()
            for text, _ in others:
                for i in files[text]:
                    yield Finding(
                        f"'{text}' is spelled '{main}' in {main_count} other caption(s)",
                        path=captions[i].display,
                    )


class TriggerConsistency(Rule):
    """A likely trigger word, undeclared, and the captions missing it.

    What it does: when no trigger is configured, finds tags that are in at least 60% of the
    captions (3 or more) but are not Danbooru tags or Anima vocabulary — a trigger word —
    and reports the captions that lack it. A tag in 90% of the captions or more is
    reported once as the likely trigger ("pass `--trigger tk`"), and is then not reported
    as a non-existent tag (TG005) in every caption. With `triggers` configured, TR001
    does this per caption instead.

    Why: every image of a LoRA should carry its trigger; images without it dilute it. And a
    trigger is the user's own token: suggesting a Danbooru spelling for it is noise.

    Example: `kanachan` in 52 of 53 captions; `tk` in all of them.

    Fix safety: no fix.
    """

    code = "DS005"
    slug = "trigger-consistency"
    scope = "dataset"

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        if ctx.config.triggers:
            return
        index = dataset_index(ctx)
        tagged = index.tagged
        if len(tagged) < 3:
            return
        has_db = ctx.db is not None and ctx.db.has_danbooru_data
        possible = [t for t, tag in index.summary.items() if _may_be_trigger(has_db, tag.kind)]
        counts = index.frequent(possible, 0.6)
        total = len(tagged)
        candidates = [t for t in possible if counts[t] >= 0.6 * total]
        if len(candidates) > 1:
            candidates.sort(key=_first_counted(index, candidates, has_db).__getitem__)
        if ctx.db is not None and has_db and candidates:
            infos = ctx.db.lookup_many(candidates)
            candidates = [t for t, i in zip(candidates, infos, strict=True) if not i.known]
        captions = ctx.captions
        # Only with the database can a token be said not to be a tag (without it, `1girl`
        # in every caption would look like a trigger).
        likely = [t for t in candidates if counts[t] >= 0.9 * total] if has_db else []
        ctx.shared[LIKELY_TRIGGERS] = frozenset(likely)
        for trigger in likely:
            yield Finding(
                f"'{trigger}' is in {counts[trigger]} of {total} captions and is not a "
                f"Danbooru tag: likely the trigger; pass --trigger {_shell_word(trigger)} "
                "(or set `triggers` in the config)",
                path=captions[index.first[trigger]].display,
            )
        for trigger in candidates:
            if counts[trigger] == total:
                continue
            for i, own in index.tagged_texts():
                if trigger not in own:
                    yield Finding(
                        f"'{trigger}' (in {counts[trigger]} of {total} captions, likely "
                        "the trigger) is missing; set `triggers` in the config to make this "
                        "an error",
                        path=captions[i].display,
                    )


LIKELY_TRIGGERS = "likely-triggers"
"""Key in ``DatasetContext.shared``: the tag texts DS005 found in 90% of the captions or
more; the engine does not report them as non-existent tags."""


def _shell_word(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _may_be_trigger(has_db: bool, kind: Kind) -> bool:
    if kind in (Kind.UNKNOWN, Kind.CHARACTER, Kind.TRIGGER):
        return True
    return kind is Kind.GENERAL and not has_db


def _first_counted(
    index: DatasetIndex, texts: list[str], has_db: bool
) -> dict[str, tuple[int, int]]:
    """The order in which the rule has always listed ``texts``: by the first caption
    holding them, then as that caption's set of possible triggers iterates (the order of
    a set of strings is fixed within one process)."""
    order: dict[str, tuple[int, int]] = {}
    for i in sorted({index.first[text] for text in texts}):
        tags = index.captions[i].tags or ()
        possible = {t.text for t in tags if _may_be_trigger(has_db, t.kind)}
        for position, text in enumerate(possible):
            order.setdefault(text, (i, position))
    return order


_WORDS = re.compile(r"[a-z]+")


class FilenameContradiction(Rule):
    """The file name names a tag the caption lacks while another file's caption has it.

    What it does: splits each caption file's name into words (`kanachan_bikini` → `bikini`;
    pairs too: `from_behind` → `from behind`) and reports a word that is a tag used in the
    dataset, missing from this caption, and present in the caption of another file.

    Why: this is how swapped captions show: in the seed dataset `kanachan_bikini.txt` said
    `nude` and `kanachan_nude.txt` said `bikini`, and two training runs learned them crossed.

    Example: `kanachan_bikini.txt` lacks `bikini`, which `kanachan_nude.txt` has.

    Fix safety: no fix — look at the images.
    """

    code = "DS006"
    slug = "filename-contradiction"
    scope = "dataset"

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        index = dataset_index(ctx)
        captions = ctx.captions
        findall = _WORDS.findall
        # File names repeat their words (`kanachan_bikini_001` … `_099`): the phrases that
        # name a tag of the dataset are worked out once per sequence of words.
        named: dict[tuple[str, ...], list[tuple[str, list[str], int]]] = {}
        for caption, own in zip(captions, index.texts, strict=True):
            if own is None:
                continue
            words = findall(caption.path.stem.lower())
            if not words:
                continue
            key = tuple(words)
            phrases = named.get(key)
            if phrases is None:
                if len(named) >= 65_536:  # names of their own (hashes): a bounded cache
                    named.clear()
                phrases = named[key] = _tag_phrases(words, index, ctx.config.triggers)
            for phrase, spellings, holder in phrases:
                if not own.isdisjoint(spellings):  # this caption has the tag
                    continue
                # The other file's own name should not claim the tag too (then both agree).
                witness = captions[holder]
                yield Finding(
                    f"file name says '{phrase}' but the caption lacks it, while "
                    f"{witness.display} has it: are the captions swapped?",
                    path=caption.display,
                )


def _tag_phrases(
    words: list[str], index: DatasetIndex, triggers: Collection[str]
) -> list[tuple[str, list[str], int]]:
    """The words and word pairs of a file name that name a tag of the dataset (not a
    trigger), sorted, each with the texts of that tag and the first caption holding it."""
    out = []
    phrases = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
    for phrase in sorted(phrases):
        spellings = index.by_name.get(phrase)  # the texts of the tag named so
        if spellings is not None and phrase not in triggers:
            out.append((phrase, spellings, min(index.first[text] for text in spellings)))
    return out
