"""One review row per image: its caption, diagnostics and the proposed caption.

Images and captions are paired by folder and file stem, as trainers pair them. Images with
no caption and captions with no image get rows too (the dataset rules report them).
Diagnostics come from the same :class:`~anima_caption._check._engine.Checker` that
``anima-caption check`` runs, dataset rules included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from anima_caption._errors import CaptionSyntaxError, UsageError

if TYPE_CHECKING:
    from anima_caption._check._diagnostic import Diagnostic
    from anima_caption._check._engine import Checker
    from anima_caption._io import CaptionFile
    from anima_caption._model import Caption
    from anima_caption._policy import Policy

Propose = Literal["none", "fix", "convert", "policy"]


@dataclass
class ReviewRow:
    """One image (or orphan caption) of the dataset."""

    key: str
    """The caption file's path relative to the dataset, POSIX style (``sub/img.txt``)."""
    caption_path: Path
    image: Path | None
    file: CaptionFile | None = None
    """The caption as read (None when missing or undecodable)."""
    caption: Caption | None = None
    read_error: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    proposed: str | None = None
    """The proposed caption text (without the final line end), when a proposal was made."""
    propose_error: str | None = None

    @property
    def exists(self) -> bool:
        """The caption file existed when the dataset was read."""
        return self.file is not None or self.read_error is not None

    @property
    def sha256(self) -> str:
        """SHA-256 of the caption file's bytes ('' when there was no file)."""
        if self.file is None:
            return ""
        return hashlib.sha256(self.file.data).hexdigest()

    @property
    def text(self) -> str:
        """The current caption as a cell shows it: the final line end removed."""
        if self.file is None:
            return ""
        return strip_final_newline(self.file.text)

    @property
    def name(self) -> str:
        """The file name shown to the reviewer: the image's, else the caption's."""
        return (self.image or self.caption_path).name


@dataclass
class ReviewSet:
    """Everything one export or report shows."""

    root: Path
    rows: list[ReviewRow]
    checker: Checker
    propose: Propose = "none"


def strip_final_newline(text: str) -> str:
    """``text`` without one trailing ``\\r\\n``, ``\\n`` or ``\\r``."""
    for ending in ("\r\n", "\n", "\r"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes ('' when it does not exist)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def make_checker(
    root: Path,
    *,
    config: str | None,
    triggers: Sequence[str],
    db_path: str | None,
    policy: Policy | None = None,
) -> Checker:
    """A checker with the dataset's configuration (``anima-caption.yaml`` etc.) and database.

    ``policy`` (``review serve --policy``) replaces the configuration's policy, which turns
    the policy rules (PL) on."""
    import dataclasses

    from anima_caption._check._configfile import RuleSelection, config_for
    from anima_caption._check._engine import Checker
    from anima_caption._tagdb import TagDB, open_default, resolve_db_path
    from anima_caption._tagdb._paths import no_database_hint

    loaded = config_for(root, config)
    if policy is not None:
        names = [t for t in policy.trigger_names() if t not in (*loaded.config.triggers, *triggers)]
        triggers = [*triggers, *names]
        loaded = dataclasses.replace(
            loaded, config=loaded.config.model_copy(update={"policy": policy})
        )
    if triggers:
        merged = [*loaded.config.triggers, *triggers]
        loaded = dataclasses.replace(
            loaded, config=loaded.config.model_copy(update={"triggers": merged})
        )
    selection = RuleSelection.from_config(loaded.config, None, None, loaded=loaded)
    db = open_default(db_path)
    if db is None:
        import sys

        print(no_database_hint(resolve_db_path(db_path)), file=sys.stderr)
        db = TagDB.vocabulary_only()
    return Checker(loaded, db, selection)


def collect(
    root: Path,
    checker: Checker,
    *,
    propose: Propose = "none",
    proposer: Callable[[str], str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReviewSet:
    """Pair images and captions under ``root``, check them and make proposals.

    ``progress(done, total)`` is called while the captions are checked.
    """
    from anima_caption._check._engine import _display
    from anima_caption._io import read_caption_file

    if not root.is_dir():
        raise UsageError(f"{root}: not a dataset folder")
    captions, images = checker.collect([str(root)])
    caption_ext = checker.config.caption_extensions[0] if checker.config.caption_extensions else ""
    by_stem: dict[Path, ReviewRow] = {}
    for image in images:
        stem = image.with_suffix("")
        if stem in by_stem:  # a.png and a.jpg: the caption belongs to both; one row each
            stem = image
        by_stem[stem] = ReviewRow(key="", caption_path=image.with_suffix(caption_ext), image=image)
    for path in captions:
        stem = path.with_suffix("")
        row = by_stem.get(stem)
        if row is None:
            by_stem[stem] = ReviewRow(key="", caption_path=path, image=None)
        else:
            row.caption_path = path
    rows = sorted(by_stem.values(), key=lambda r: (r.caption_path.as_posix(), r.name))
    result = checker.run([str(root)], fix=False, write=False, progress=progress)
    by_display: dict[str, list[Diagnostic]] = {}
    for diagnostic in result.diagnostics:
        by_display.setdefault(diagnostic.path, []).append(diagnostic)
    for row in rows:
        row.key = row.caption_path.relative_to(root).as_posix()
        shown = {_display(row.caption_path)}
        if row.image is not None:
            shown.add(_display(row.image))
            shown.add(str(row.image))
        row.diagnostics = [d for name in sorted(shown) for d in by_display.get(name, [])]
        if row.caption_path.exists():
            try:
                row.file = read_caption_file(row.caption_path)
            except Exception as error:  # CaptionDecodeError: reported, never fatal
                row.read_error = str(error)
        if row.file is not None:
            row.caption = _parse(row.file.text, checker)
            if proposer is not None:
                try:
                    row.proposed = strip_final_newline(proposer(row.file.text))
                except (CaptionSyntaxError, ValueError) as error:
                    row.propose_error = str(error).splitlines()[0]
    return ReviewSet(root=root, rows=rows, checker=checker, propose=propose)


def _parse(text: str, checker: Checker) -> Caption:
    from anima_caption._parse import parse

    return parse(text, lookup=checker.lookup, triggers=checker.config.triggers)


def fix_proposer(checker: Checker, *, unsafe: bool) -> Callable[[str], str]:
    """Proposals made by the linter's fixes (safe ones; unsafe too with ``unsafe``)."""

    def propose(text: str) -> str:
        return checker.fix_text(text, unsafe=unsafe)

    return propose
