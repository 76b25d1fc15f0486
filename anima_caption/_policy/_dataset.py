"""Reading a dataset for the policy commands: caption files, decoded and parsed."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from anima_caption._errors import CaptionDecodeError, UsageError
from anima_caption._io import CaptionFile, read_caption_file, walk_dataset
from anima_caption._model import Caption

if TYPE_CHECKING:
    from anima_caption._lookup import TagLookup


@dataclass(frozen=True)
class PolicyCaption:
    """One caption of the dataset with where it lives."""

    path: Path
    display: str
    folder: str
    """The caption's folder relative to the dataset root, posix ('' for the root)."""
    file: CaptionFile
    caption: Caption


@dataclass
class PolicyDataset:
    """Every caption under the roots; files that could not be read are listed apart."""

    roots: list[Path]
    captions: list[PolicyCaption] = field(default_factory=list)
    unreadable: list[CaptionDecodeError] = field(default_factory=list)


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when below it, else as given."""
    try:
        return Path(os.path.abspath(path)).relative_to(Path.cwd()).as_posix()  # noqa: PTH100
    except ValueError:
        return str(path)


def read_dataset(
    paths: Sequence[str | Path],
    *,
    triggers: Sequence[str] = (),
    lookup: TagLookup | None = None,
    extensions: Sequence[str] = (".txt",),
    progress: Callable[[int], None] | None = None,
) -> PolicyDataset:
    """Read and parse every caption file under ``paths`` (folders walked in sorted order,
    hidden folders skipped). Undecodable files are collected, never guessed at."""
    from anima_caption._parse import parse

    wanted = tuple(e.lower() for e in extensions)
    dataset = PolicyDataset(roots=[Path(p) for p in paths])
    for root in dataset.roots:
        if root.is_dir():
            files = [p for p in walk_dataset(root) if p.name.lower().endswith(wanted)]
            base = root
        elif root.is_file():
            files, base = [root], root.parent
        else:
            raise UsageError(f"{root}: no such file or directory")
        for path in files:
            try:
                file = read_caption_file(path)
            except CaptionDecodeError as error:
                dataset.unreadable.append(error)
                continue
            folder = path.parent.relative_to(base).as_posix()
            caption = parse(file.text, lookup=lookup, triggers=triggers)
            dataset.captions.append(
                PolicyCaption(
                    path, display_path(path), "" if folder == "." else folder, file, caption
                )
            )
            if progress is not None:
                progress(len(dataset.captions))
    return dataset
