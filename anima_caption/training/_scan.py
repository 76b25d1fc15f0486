"""Reading a dataset for training: images, their caption files and what the captions say.

The captions are read through the caption core (``read_caption_file`` → ``parse``) and are
never written. What the generators and cross-checks need is computed once per caption: the
fixed prefix (quality / safety / count / character / series / artist tags) and how many
comma pieces it spans, natural-language sentences, direction words, year tags, lines,
keep-token markers and the token count.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from anima_caption._kinds import Kind, Section

#: Image extensions every supported trainer loads (sd-scripts, AnimaLoraToolkit,
#: diffusion-pipe all read these).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
#: Caption sidecar extensions looked for beside each image.
CAPTION_EXTENSIONS = (".txt", ".caption")

#: Sections that form the fixed prefix kept in place when tags are shuffled.
FIXED_SECTIONS = frozenset(
    {Section.PREFIX, Section.COUNT, Section.CHARACTER, Section.SERIES, Section.ARTIST}
)

_REPEATS_NAME = re.compile(r"^(\d+)_(.+)$")


@cache
def words() -> dict[str, Any]:
    """The word lists in ``data/words.yaml``."""
    import yaml

    data: dict[str, Any] = yaml.safe_load(
        (Path(__file__).resolve().parent / "data" / "words.yaml").read_text(encoding="utf-8")
    )
    return data


@cache
def _direction_patterns() -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    data = words()
    alternatives = "|".join(re.escape(w) for w in sorted(data["direction_words"], key=len)[::-1])
    found = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)
    exceptions = data.get("direction_exceptions") or []
    if not exceptions:
        return found, None
    skip = "|".join(re.escape(p) for p in exceptions)
    return found, re.compile(rf"(?<![\w-])(?:{skip})(?![\w-])", re.IGNORECASE)


def direction_phrases(text: str) -> list[str]:
    """Left/right references in ``text`` with a little context (``right side of the image``)."""
    found, skip = _direction_patterns()
    masked = skip.sub(lambda m: " " * len(m.group()), text) if skip else text
    out = []
    for match in found.finditer(masked):
        after = text[match.end() :].split()[:4]
        phrase = " ".join([text[match.start() : match.end()], *after])
        out.append(phrase.split(".")[0].split(",")[0].strip())
    return out


@dataclass(frozen=True)
class CaptionInfo:
    """What one caption file says, as far as training is concerned."""

    path: Path
    text: str = ""
    error: str | None = None
    """Why the file could not be read (then every other field is empty)."""
    prefix: tuple[str, ...] = ()
    """The fixed-prefix tags in order (``masterpiece`` … ``kanachan``)."""
    prefix_pieces: int = 0
    """Comma pieces (sd-scripts ``keep_tokens`` units) the fixed prefix spans."""
    prefix_end: int = 0
    """Offset in ``text`` just after the fixed prefix."""
    sentences: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    year_tags: tuple[str, ...] = ()
    lines: int = 1
    """Non-empty lines."""
    header: bool = False
    keep_marker: bool = False
    """The caption itself contains ``|||``."""
    tokens: int = 0
    tokens_exact: bool = False
    tags: tuple[str, ...] = ()
    """Every tag (normalised), in order."""
    kinds: tuple[str, ...] = ()
    """The kind of each tag in ``tags``."""
    sections: tuple[str, ...] = ()
    """The section of each tag in ``tags``."""


@dataclass
class ImageEntry:
    """One training image and the caption files beside it (by extension)."""

    path: Path
    captions: dict[str, Path] = field(default_factory=dict)


@dataclass
class Folder:
    """A folder holding images directly: one sd-scripts subset / diffusion-pipe directory."""

    path: Path
    images: list[ImageEntry] = field(default_factory=list)

    @property
    def repeats_from_name(self) -> int | None:
        """``N`` of a kohya-style ``N_name`` folder, else None."""
        match = _REPEATS_NAME.match(self.path.name)
        return int(match.group(1)) if match and int(match.group(1)) > 0 else None

    @property
    def label(self) -> str:
        """The folder name without a kohya ``N_`` prefix."""
        match = _REPEATS_NAME.match(self.path.name)
        return match.group(2) if match else self.path.name


@dataclass
class DatasetScan:
    """A dataset folder as the trainers will see it."""

    root: Path
    folders: list[Folder]
    captions: dict[Path, CaptionInfo]
    """Every caption file read (all extensions), by path."""
    orphans: list[Path]
    """Caption files with no image beside them."""
    caption_extension: str
    """The extension the trainers are told to read (chosen or given)."""

    @property
    def images(self) -> list[ImageEntry]:
        """Every image, folder by folder."""
        return [image for folder in self.folders for image in folder.images]

    def caption_of(self, image: ImageEntry) -> CaptionInfo | None:
        """The caption the trainers read for ``image`` (``caption_extension``), if any."""
        path = image.captions.get(self.caption_extension)
        return self.captions.get(path) if path is not None else None

    def training_captions(self) -> list[CaptionInfo]:
        """The readable captions the trainers will read, in image order."""
        out = []
        for image in self.images:
            info = self.caption_of(image)
            if info is not None and info.error is None:
                out.append(info)
        return out


def scan_dataset(
    root: Path,
    *,
    triggers: Collection[str] = (),
    lookup: Any = None,
    caption_extension: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetScan:
    """Find images and captions under ``root`` (recursively) and read every caption.

    ``progress(done, total)`` is called after each caption, then once with ``(-1, -1)``.
    """
    from anima_caption._io import walk_dataset

    folders: dict[Path, Folder] = {}
    sidecars: dict[tuple[Path, str], dict[str, Path]] = {}
    for path in walk_dataset(root):
        suffix = path.suffix.lower()
        if suffix in IMAGE_EXTENSIONS:
            folder = folders.setdefault(path.parent, Folder(path.parent))
            folder.images.append(ImageEntry(path))
        elif suffix in CAPTION_EXTENSIONS:
            sidecars.setdefault((path.parent, path.stem), {})[suffix] = path
    claimed: set[tuple[Path, str]] = set()
    for folder in folders.values():
        for image in folder.images:
            key = (folder.path, image.path.stem)
            if key in sidecars:
                image.captions = dict(sidecars[key])
                claimed.add(key)
    orphans = sorted(
        p for key, found in sidecars.items() if key not in claimed for p in found.values()
    )
    if caption_extension is None:
        counts = Counter(ext for image_caps in sidecars.values() for ext in image_caps)
        caption_extension = ".txt"
        if counts and counts[".caption"] > counts[".txt"]:
            caption_extension = ".caption"
    paths = [path for found in sidecars.values() for path in found.values()]
    captions = {}
    for done, path in enumerate(paths, start=1):
        captions[path] = read_caption_info(path, triggers=triggers, lookup=lookup)
        if progress is not None:
            progress(done, len(paths))
    if progress is not None:
        progress(-1, -1)
    ordered = [folders[key] for key in sorted(folders)]
    return DatasetScan(root, ordered, captions, orphans, caption_extension)


def read_caption_info(
    path: Path, *, triggers: Collection[str] = (), lookup: Any = None
) -> CaptionInfo:
    """Read and parse one caption file into a :class:`CaptionInfo` (never raises on content)."""
    from anima_caption._errors import CaptionDecodeError
    from anima_caption._io import read_caption_file

    try:
        source = read_caption_file(path)
    except CaptionDecodeError as error:
        return CaptionInfo(path, error=error.message)
    return caption_info(source.text, path, triggers=triggers, lookup=lookup)


def caption_info(
    text: str, path: Path, *, triggers: Collection[str] = (), lookup: Any = None
) -> CaptionInfo:
    """:class:`CaptionInfo` of caption ``text`` (``path`` is only carried along)."""
    from anima_caption._model import Marker, Tag
    from anima_caption._parse import parse
    from anima_caption._tokens import count_tokens

    caption = parse(text, lookup=lookup, triggers=triggers)
    prefix: list[str] = []
    prefix_end = 0
    for item in caption.items:
        if isinstance(item, Tag) and item.section in FIXED_SECTIONS:
            prefix.append(item.text)
            prefix_end = item.span[1]
        else:
            break
    pieces = text[:prefix_end].count(",") + 1 if prefix else 0
    sentences = tuple(s.text for s in caption.sentences)
    directions = [d for s in sentences for d in direction_phrases(s)]
    directions += [t.text for t in caption.tags if direction_phrases(t.text)]
    keep_marker = any(isinstance(i, Marker) and i.name == "keep-tokens" for i in caption.items)
    lines = [line for line in text.splitlines() if line.strip()]
    counted = count_tokens(text.strip())
    return CaptionInfo(
        path=path,
        text=text,
        prefix=tuple(prefix),
        prefix_pieces=pieces,
        prefix_end=prefix_end,
        sentences=sentences,
        directions=tuple(directions),
        year_tags=tuple(t.text for t in caption.tags if t.kind is Kind.YEAR),
        lines=len(lines),
        header=caption.header is not None,
        keep_marker=keep_marker or "|||" in text,
        tokens=counted.tokens,
        tokens_exact=counted.exact,
        tags=tuple(t.text for t in caption.tags),
        kinds=tuple(t.kind.value for t in caption.tags),
        sections=tuple(t.section.value for t in caption.tags),
    )
