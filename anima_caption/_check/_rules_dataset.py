"""Dataset rules: they read every caption of a dataset at once (and the images beside them)."""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from anima_caption._check._registry import Finding, Rule
from anima_caption._kinds import Kind

if TYPE_CHECKING:
    from anima_caption._check._context import DatasetContext, DatasetEntry


def _stem_key(path: Path) -> Path:
    return path.with_suffix("")


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
        captioned = {_stem_key(c.path) for c in ctx.captions}
        extensions = ", ".join(ctx.config.caption_extensions)
        for image in ctx.images:
            if _stem_key(image) not in captioned:
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
        images = {_stem_key(i) for i in ctx.images}
        folders_with_images = {i.parent for i in ctx.images}
        for caption in ctx.captions:
            if caption.path.parent in folders_with_images and _stem_key(caption.path) not in images:
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
        first: dict[tuple[object, ...], DatasetEntry] = {}
        for caption in ctx.captions:
            if not caption.tags and not caption.sentences:
                continue
            key = (tuple(sorted({t.text for t in caption.tags or ()})), caption.sentences)
            original = first.setdefault(key, caption)
            if original is not caption:
                yield Finding(f"same caption as {original.display}", path=caption.display)


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
        spellings: dict[str, Counter[str]] = defaultdict(Counter)
        files: dict[str, list[DatasetEntry]] = defaultdict(list)
        canonical: dict[str, str] = {}
        squashed: dict[str, str] = {}  # a dataset repeats its tags: squash each name once
        for caption in ctx.captions:
            if caption.tags is None:
                continue
            for tag in {t.text: t for t in caption.tags if not t.kaomoji}.values():
                key = squashed.get(tag.name)
                if key is None:
                    key = squashed[tag.name] = _squash(tag.name)
                spellings[key][tag.text] += 1
                files[tag.text].append(caption)
        if ctx.db is not None and ctx.db.has_danbooru_data:
            names = [text for counter in spellings.values() for text in counter]
            for text, info in zip(names, ctx.db.lookup_many(names), strict=True):
                if info.canonical is not None:
                    canonical[text] = _squash(info.canonical)
            merged: dict[str, Counter[str]] = defaultdict(Counter)
            for key, counter in spellings.items():
                for text, count in counter.items():
                    merged[canonical.get(text, key)][text] += count
            spellings = merged
        for counter in spellings.values():
            if len(counter) < 2:
                continue
            (main, main_count), *others = counter.most_common()
            for text, _ in others:
                for caption in files[text]:
                    yield Finding(
                        f"'{text}' is spelled '{main}' in {main_count} other caption(s)",
                        path=caption.display,
                    )


class TriggerConsistency(Rule):
    """A likely trigger word missing from some captions.

    What it does: when no trigger is configured, finds tags that are in at least 60% of the
    captions (3 or more) but are not Danbooru tags or Anima vocabulary — a trigger word —
    and reports the captions that lack it. With `triggers` configured, TR001 does this per
    caption instead.

    Why: every image of a LoRA should carry its trigger; images without it dilute it.

    Example: `kanachan` in 52 of 53 captions.

    Fix safety: no fix.
    """

    code = "DS005"
    slug = "trigger-consistency"
    scope = "dataset"

    def check_dataset(self, ctx: DatasetContext) -> Iterator[Finding]:
        captions = [c for c in ctx.captions if c.tags]
        if ctx.config.triggers or len(captions) < 3:
            return
        has_db = ctx.db is not None and ctx.db.has_danbooru_data
        counts: Counter[str] = Counter()
        for caption in captions:
            counts.update({t.text for t in caption.tags or () if _may_be_trigger(has_db, t.kind)})
        if not counts:
            return
        candidates = [
            t for t, n in counts.items() if n >= 0.6 * len(captions) and n < len(captions)
        ]
        if ctx.db is not None and ctx.db.has_danbooru_data and candidates:
            infos = ctx.db.lookup_many(candidates)
            candidates = [t for t, i in zip(candidates, infos, strict=True) if not i.known]
        for trigger in candidates:
            for caption in captions:
                if trigger not in {t.text for t in caption.tags or ()}:
                    yield Finding(
                        f"'{trigger}' (in {counts[trigger]} of {len(captions)} captions, likely "
                        "the trigger) is missing; set `triggers` in the config to make this "
                        "an error",
                        path=caption.display,
                    )


def _may_be_trigger(has_db: bool, kind: Kind) -> bool:
    if kind in (Kind.UNKNOWN, Kind.CHARACTER, Kind.TRIGGER):
        return True
    return kind is Kind.GENERAL and not has_db


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
        tags_of: dict[Path, set[str]] = {}
        holders: dict[str, list[DatasetEntry]] = defaultdict(list)
        for caption in ctx.captions:
            if caption.tags is None:
                continue
            names = {t.name for t in caption.tags}
            tags_of[caption.path] = names
            for name in names:
                holders[name].append(caption)
        for caption in ctx.captions:
            own = tags_of.get(caption.path)
            if own is None:
                continue
            words = _WORDS.findall(caption.path.stem.lower())
            phrases = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
            for phrase in sorted(phrases):
                if phrase in own or phrase in ctx.config.triggers:
                    continue
                others = [c for c in holders.get(phrase, ()) if c is not caption]
                if not others:
                    continue
                # The other file's own name should not claim the tag too (then both agree).
                witness = others[0]
                yield Finding(
                    f"file name says '{phrase}' but the caption lacks it, while "
                    f"{witness.display} has it: are the captions swapped?",
                    path=caption.display,
                )
