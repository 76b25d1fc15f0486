"""The dataset rules (DS001-DS006) at scale: the fast implementations in
``anima_caption/_check/_rules_dataset.py`` must report exactly what the straightforward
ones did -- same messages, same files, same order.

REFERENCE IMPLEMENTATION: the ``reference_*`` functions below are the dataset rules as they
were before they were rewritten around a shared posting index (the bodies of the former
``check_dataset`` methods, unchanged). They are kept here only for comparison: the
differential tests run both on generated datasets and ``bench/bench_dataset_rules.py``
times both.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path, PureWindowsPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_caption._check._config import CheckConfig
from anima_caption._check._context import DatasetContext, DatasetEntry, TagSummary
from anima_caption._check._registry import Finding, Rule
from anima_caption._check._rules_dataset import (
    CaptionWithoutImage,
    DuplicateCaption,
    FilenameContradiction,
    ImageWithoutCaption,
    InconsistentSpelling,
    TriggerConsistency,
)
from anima_caption._kinds import Kind
from anima_caption._normalize import tag_name
from anima_caption._tagdb import TagDB

# --------------------------------------------------------------------------------------
# Reference implementation (kept for comparison; do not "fix" it)
# --------------------------------------------------------------------------------------


def _ref_stem_key(path: Path) -> Path:
    return path.with_suffix("")


def reference_ds001(ctx: DatasetContext) -> Iterator[Finding]:
    """DS001/image-without-caption, reference implementation."""
    captioned = {_ref_stem_key(c.path) for c in ctx.captions}
    extensions = ", ".join(ctx.config.caption_extensions)
    for image in ctx.images:
        if _ref_stem_key(image) not in captioned:
            yield Finding(f"image has no caption file ({extensions})", path=str(image))


def reference_ds002(ctx: DatasetContext) -> Iterator[Finding]:
    """DS002/caption-without-image, reference implementation."""
    images = {_ref_stem_key(i) for i in ctx.images}
    folders_with_images = {i.parent for i in ctx.images}
    for caption in ctx.captions:
        if caption.path.parent in folders_with_images and _ref_stem_key(caption.path) not in images:
            yield Finding("caption file has no image", path=caption.display)


def reference_ds003(ctx: DatasetContext) -> Iterator[Finding]:
    """DS003/duplicate-caption, reference implementation."""
    first: dict[tuple[object, ...], DatasetEntry] = {}
    for caption in ctx.captions:
        if not caption.tags and not caption.sentences:
            continue
        key = (tuple(sorted({t.text for t in caption.tags or ()})), caption.sentences)
        original = first.setdefault(key, caption)
        if original is not caption:
            yield Finding(f"same caption as {original.display}", path=caption.display)


_REF_SQUASHABLE = re.compile(r"[\s_\-]+")


def _ref_squash(text: str) -> str:
    return _REF_SQUASHABLE.sub("", text)


def reference_ds004(ctx: DatasetContext) -> Iterator[Finding]:
    """DS004/inconsistent-spelling, reference implementation."""
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
                key = squashed[tag.name] = _ref_squash(tag.name)
            spellings[key][tag.text] += 1
            files[tag.text].append(caption)
    if ctx.db is not None and ctx.db.has_danbooru_data:
        names = [text for counter in spellings.values() for text in counter]
        for text, info in zip(names, ctx.db.lookup_many(names), strict=True):
            if info.canonical is not None:
                canonical[text] = _ref_squash(info.canonical)
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


def _ref_may_be_trigger(has_db: bool, kind: Kind) -> bool:
    if kind in (Kind.UNKNOWN, Kind.CHARACTER, Kind.TRIGGER):
        return True
    return kind is Kind.GENERAL and not has_db


def reference_ds005(ctx: DatasetContext) -> Iterator[Finding]:
    """DS005/trigger-consistency, reference implementation."""
    captions = [c for c in ctx.captions if c.tags]
    if ctx.config.triggers or len(captions) < 3:
        return
    has_db = ctx.db is not None and ctx.db.has_danbooru_data
    counts: Counter[str] = Counter()
    for caption in captions:
        counts.update({t.text for t in caption.tags or () if _ref_may_be_trigger(has_db, t.kind)})
    if not counts:
        return
    candidates = [t for t, n in counts.items() if n >= 0.6 * len(captions)]
    if ctx.db is not None and ctx.db.has_danbooru_data and candidates:
        infos = ctx.db.lookup_many(candidates)
        candidates = [t for t, i in zip(candidates, infos, strict=True) if not i.known]
        for trigger in candidates:  # in 90 % or more: reported once, as the likely trigger
            if counts[trigger] >= 0.9 * len(captions):
                first = next(c for c in captions if trigger in {t.text for t in c.tags or ()})
                yield Finding(
                    f"'{trigger}' is in {counts[trigger]} of {len(captions)} captions and is "
                    f"not a Danbooru tag: likely the trigger; pass --trigger "
                    f"{shlex.quote(trigger)} (or set `triggers` in the config)",
                    path=first.display,
                )
    for trigger in candidates:
        for caption in captions:
            if trigger not in {t.text for t in caption.tags or ()}:
                yield Finding(
                    f"'{trigger}' (in {counts[trigger]} of {len(captions)} captions, likely "
                    "the trigger) is missing; set `triggers` in the config to make this "
                    "an error",
                    path=caption.display,
                )


_REF_WORDS = re.compile(r"[a-z]+")


def reference_ds006(ctx: DatasetContext) -> Iterator[Finding]:
    """DS006/filename-contradiction, reference implementation."""
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
        words = _REF_WORDS.findall(caption.path.stem.lower())
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


#: (reference, rule class) for every dataset rule.
REFERENCE: list[tuple[Callable[[DatasetContext], Iterator[Finding]], type[Rule]]] = [
    (reference_ds001, ImageWithoutCaption),
    (reference_ds002, CaptionWithoutImage),
    (reference_ds003, DuplicateCaption),
    (reference_ds004, InconsistentSpelling),
    (reference_ds005, TriggerConsistency),
    (reference_ds006, FilenameContradiction),
]


def reference_findings(ctx: DatasetContext) -> list[tuple[str, Finding]]:
    """Every finding of the reference dataset rules, in rule order."""
    return [(rule.code, f) for reference, rule in REFERENCE for f in reference(ctx)]


# --------------------------------------------------------------------------------------
# Generated datasets
# --------------------------------------------------------------------------------------

#: Tag texts of the generated captions: spelling variants (by spaces and hyphens, and by
#: the database's aliases: `yellow hair` → `blonde hair`), tags that file names name, an
#: unknown trigger-like word with and without `@`, and kaomoji (the flag is the value).
VOCABULARY: dict[str, bool] = {
    "twin tails": False,
    "twintails": False,
    "twin-tails": False,
    "long hair": False,
    "long-hair": False,
    "blonde hair": False,
    "blond hair": False,
    "yellow hair": False,
    "pony tail": False,
    "ponytail": False,
    "double parted bangs": False,
    "double-parted bangs": False,
    "bikini": False,
    "nude": False,
    "from behind": False,
    "behind": False,
    "kanachan": False,
    "@kanachan": False,
    "hatsune miku": False,
    "1girl": False,
    "solo": False,
    "smile": False,
    "score_7": False,
    "^_^": True,
    ":d": True,
}
TEXTS = sorted(VOCABULARY)
STEMS = ["kanachan_bikini", "kanachan_nude", "from_behind", "long_hair_smile", "img", "", "solo"]
SENTENCES = ["She smiles.", "A beach at noon."]


@st.composite
def datasets(draw: st.DrawFn, windows: bool = False) -> DatasetContext:
    """A dataset as the check workers describe it: one kind per tag text (drawn per
    dataset: a run parses every file with one database and one configuration), names as
    ``Tag.name`` makes them, unique paths, undecodable files, repeated and duplicate
    captions, images with and without captions, summaries shared or not."""
    # Kinds that may be a trigger (DS005) come up more often than the others.
    likely = [Kind.UNKNOWN, Kind.CHARACTER, Kind.TRIGGER, Kind.GENERAL]
    kinds = {text: draw(st.sampled_from([*likely, *likely, *Kind])) for text in TEXTS}
    summaries = {
        text: TagSummary(text, tag_name(text), kinds[text], VOCABULARY[text]) for text in TEXTS
    }
    share = draw(st.booleans())  # the workers' memo shares one summary per spelling

    def summary(text: str) -> TagSummary:
        return summaries[text] if share else TagSummary(*summaries[text])

    # Texts in most captions (the trigger DS005 looks for is one), often not Danbooru tags.
    unknown = ["kanachan", "@kanachan", "twin-tails", "long-hair", "double parted bangs"]
    frequent = draw(st.lists(st.sampled_from([*unknown, *TEXTS]), max_size=4, unique=True))
    path_type = PureWindowsPath if windows else Path
    root = draw(st.sampled_from(["/data/set", "set", "/"]))
    n = draw(st.integers(0, 24))
    entries: list[DatasetEntry] = []
    for i in range(n):
        folder = draw(st.sampled_from(["", "sub/", "sub/deeper/"]))
        stem = draw(st.sampled_from(STEMS))
        extension = draw(st.sampled_from([".txt", ".caption", ""]))
        path = path_type(root) / f"{folder}{stem}_{i}{extension}"
        display = str(path)
        roll = draw(st.integers(0, 9))
        if roll == 0:
            entries.append(DatasetEntry(path, display, None))  # undecodable
            continue
        if roll == 1 and entries:  # the same caption as an earlier file
            earlier = draw(st.sampled_from(entries))
            if earlier.tags is not None:
                tags = tuple(summary(t.text) for t in reversed(earlier.tags))
                entries.append(DatasetEntry(path, display, tags, earlier.sentences))
                continue
        texts = draw(st.lists(st.sampled_from(TEXTS), max_size=7))
        texts += [t for t in frequent if draw(st.integers(0, 4))]  # in ~80% of captions
        texts = draw(st.permutations(texts))
        sentences = tuple(draw(st.lists(st.sampled_from(SENTENCES), max_size=2)))
        entries.append(DatasetEntry(path, display, tuple(map(summary, texts)), sentences))
    images = [
        entry.path.with_suffix(draw(st.sampled_from([".png", ".webp"])))
        for entry in entries
        if draw(st.integers(0, 3))  # most captions have their image
    ]
    images += [
        path_type(root) / f"{folder}{stem}"
        for folder, stem in draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["", "sub/", "other/"]),
                    st.sampled_from(["lost.png", "0001.jpg", "kanachan_bikini_0.png"]),
                ),
                max_size=3,
                unique=True,
            )
        )
    ]
    triggers = draw(st.sampled_from([[], [], [], ["kanachan"], ["bikini"]]))
    return DatasetContext(
        captions=entries, images=images, roots=[], config=CheckConfig(triggers=triggers)
    )


def new_findings(ctx: DatasetContext) -> list[tuple[str, Finding]]:
    """Every finding of the dataset rules as they are now, in rule order."""
    return [(rule.code, f) for _, rule in REFERENCE for f in rule().check_dataset(ctx)]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_same_findings_as_reference_without_db(ctx: DatasetContext) -> None:
    assert new_findings(ctx) == reference_findings(ctx)


@settings(max_examples=100)
@given(datasets(windows=True))
def test_same_findings_for_windows_paths(ctx: DatasetContext) -> None:
    """Paths that are not POSIX paths are compared as paths (not as strings)."""
    assert new_findings(ctx) == reference_findings(ctx)


@pytest.fixture(scope="module")
def real_db(real_tagdb_path: Path) -> TagDB:
    """The full real tag database (aliases merge `yellow hair` into `blonde hair`)."""
    return TagDB.open(real_tagdb_path)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_findings_as_reference_with_real_db(real_db: TagDB, data: st.DataObject) -> None:
    ctx = data.draw(datasets())
    ctx.db = real_db
    assert new_findings(ctx) == reference_findings(ctx)


# --------------------------------------------------------------------------------------
# A real run: files on disk, the engine's own entries (workers or not)
# --------------------------------------------------------------------------------------


def write_dataset(root: Path, files: int = 90, seed: int = 5) -> None:
    """Caption files with what the dataset rules look for: spelling variants, a likely
    trigger missing from some captions, duplicates, swapped captions, an undecodable file,
    images without captions and captions without images."""
    import random

    rng = random.Random(seed)
    general = ["smile", "long hair", "twintails", "twin tails", "blonde hair", "yellow hair"]
    general += ["bikini", "nude", "from behind", "open mouth", "Long_Hair", "looking at viewer"]
    for i in range(files):
        tags = ["safe", "1girl"]
        if rng.random() < 0.85:
            tags.append("kanachan")
        tags += rng.sample(general, rng.randint(1, 5))
        outfit = rng.choice(["bikini", "nude", "smile"])
        name = f"kanachan_{outfit}_{i:03d}" if i % 2 else f"{i:04d}"
        (root / f"{name}.txt").write_text(", ".join(tags), encoding="utf-8")
        if i % 7:
            (root / f"{name}.png").write_bytes(b"\x89PNG")
    (root / "dup_a.txt").write_text("safe, 1girl, kanachan, smile", encoding="utf-8")
    (root / "dup_b.txt").write_text("safe, 1girl, smile, kanachan", encoding="utf-8")
    (root / "broken_bikini.txt").write_bytes(b"safe, \xff\xfe\xff 1girl")
    (root / "lonely.png").write_bytes(b"\x89PNG")


@pytest.mark.parametrize("jobs", [1, 2])
def test_real_run_reports_what_the_reference_reports(
    tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Checker.run`` over files on disk (serial, and with worker processes) reports,
    for the dataset rules, exactly the reference implementation's findings over the
    entries the engine built."""
    from anima_caption._check._configfile import LoadedConfig, RuleSelection
    from anima_caption._check._engine import Checker

    write_dataset(tmp_path)
    monkeypatch.chdir(tmp_path)
    seen: list[DatasetContext] = []
    check_dataset = Checker.check_dataset

    def recording(self: Checker, dataset: DatasetContext) -> list[object]:
        seen.append(dataset)  # the engine's own context, passed on unchanged
        return check_dataset(self, dataset)  # type: ignore[return-value]

    monkeypatch.setattr(Checker, "check_dataset", recording)
    config = CheckConfig()
    checker = Checker(
        LoadedConfig(config=config, path=None, root=tmp_path),
        None,
        RuleSelection.from_config(config, None, None),
    )
    result = checker.run([str(tmp_path)], jobs=jobs)
    (ctx,) = seen
    assert len(ctx.captions) == 93 and any(c.tags is None for c in ctx.captions)
    reported = sorted(
        (d.path, d.code, d.message) for d in result.diagnostics if d.code.startswith("DS")
    )
    expected = sorted((f.path or "", code, f.message) for code, f in reference_findings(ctx))
    assert reported == expected
    assert {code for _, code, _ in reported} == {f"DS00{i}" for i in range(1, 7)}
