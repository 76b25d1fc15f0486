"""``lint`` and ``fix`` for scripts: one caption text in, diagnostics or fixed text out."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from anima_caption._check._config import CheckConfig
from anima_caption._check._configfile import LoadedConfig, RuleSelection
from anima_caption._check._context import (
    CaptionContext,
    DatasetContext,
    DatasetEntry,
    TagSummary,
)
from anima_caption._check._diagnostic import Diagnostic, DiagnosticRecord
from anima_caption._check._engine import Checker
from anima_caption._errors import CaptionDecodeError
from anima_caption._io import decode_caption
from anima_caption._parse import parse

if TYPE_CHECKING:
    import pyarrow as pa

    from anima_caption._tagdb import TagDB


def db_state(db: TagDB | None) -> tuple[str, str | None]:
    """What of a tag database travels in a pickle: its file's path, never the connection."""
    if db is None:
        return ("none", None)
    if not db.has_danbooru_data or db.path is None:
        return ("vocabulary", None)
    return ("file", str(db.path))


def reopen_db(state: tuple[str, str | None]) -> TagDB | None:
    """The database :func:`db_state` describes, opened again (in this process)."""
    kind, path = state
    if kind == "none":
        return None
    from anima_caption._tagdb import TagDB

    if kind == "vocabulary" or path is None:
        return TagDB.vocabulary_only()
    return TagDB.open(path)


def _loaded(config: CheckConfig | Mapping[str, Any] | None) -> LoadedConfig:
    if config is None:
        settings = CheckConfig.defaults()
    elif isinstance(config, CheckConfig):
        settings = config
    else:
        settings = CheckConfig.model_validate(dict(config))
    return LoadedConfig(config=settings, path=None, root=Path.cwd())


def _checker(
    config: CheckConfig | Mapping[str, Any] | None,
    db: TagDB | None,
    select: Sequence[str] | None,
    ignore: Sequence[str] | None,
) -> Checker:
    loaded = _loaded(config)
    selection = RuleSelection.from_config(
        loaded.config, list(select) if select else None, list(ignore) if ignore else None
    )
    return Checker(loaded, db, selection)


class Linter:
    """A checker built once (configuration, rule selection, tag database) for many captions.

    Build one and reuse it: it remembers every tag spelling's findings, so a dataset's
    thousandth caption costs a fraction of its first. It pickles (the database as its
    file's path, reopened on the other side; the configuration as it is), so a worker
    process or a Ray actor builds it once::

        linter = Linter(db=TagDB.open("tags.sqlite"), config={"triggers": ["kanachan"]})
        for diagnostics in linter.lint_many(texts):
            ...
        table = linter.lint_table(pyarrow_table, column="caption")

    ``db`` is a :class:`TagDB` or the path of a database file.
    """

    def __init__(
        self,
        *,
        db: TagDB | str | PathLike[str] | None = None,
        config: CheckConfig | Mapping[str, Any] | None = None,
        select: Sequence[str] | None = None,
        ignore: Sequence[str] | None = None,
    ) -> None:
        if isinstance(db, str | PathLike):
            from anima_caption._tagdb import TagDB

            db = TagDB.open(Path(db))
        loaded = _loaded(config)
        selection = RuleSelection.from_config(
            loaded.config, list(select) if select else None, list(ignore) if ignore else None
        )
        self._setup(loaded, db, selection)

    @classmethod
    def from_parts(cls, loaded: LoadedConfig, db: TagDB | None, selection: RuleSelection) -> Linter:
        """A linter over a configuration loaded from a file (what ``check`` uses)."""
        linter = cls.__new__(cls)
        linter._setup(loaded, db, selection)
        return linter

    def _setup(self, loaded: LoadedConfig, db: TagDB | None, selection: RuleSelection) -> None:
        self.loaded = loaded
        self.selection = selection
        self.checker = Checker(loaded, db, selection)
        self._summaries: dict[str, TagSummary] = {}

    @property
    def db(self) -> TagDB | None:
        """The tag database (None: built-in vocabulary only)."""
        return self.checker.db

    @property
    def config(self) -> CheckConfig:
        """The configuration the rules run with."""
        return self.checker.config

    # -- pickling: the database travels as its path -------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "selection": self.selection,
            "db": db_state(self.checker.db),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["loaded"], reopen_db(state["db"]), state["selection"])

    # -- one caption ------------------------------------------------------------------------
    def context(
        self, text: str, path: str = "caption.txt", *, display: str | None = None
    ) -> CaptionContext:
        """The caption as the rules read it (decoded as a file holding ``text`` would be).

        ``path`` names the caption for the rules (its stem for DS006, globs of
        ``per-file-ignores``); ``display`` is how output names it (default ``path``)."""
        checker = self.checker
        file_path = PurePosixPath(path)
        ctx = CaptionContext(
            path=file_path,  # type: ignore[arg-type]
            display=path if display is None else display,
            config=checker.config,
            db=checker.db,
        )
        try:
            ctx.file = decode_caption(text.encode("utf-8", "surrogatepass"), file_path)  # type: ignore[arg-type]
        except CaptionDecodeError as error:
            ctx.decode_error = error
            return ctx
        ctx.caption = parse(ctx.file.text, lookup=checker.lookup, triggers=checker.config.triggers)
        return ctx

    def unreadable(self, path: str, display: str, why: str) -> CaptionContext:
        """A caption that could not be read (a malformed row…): FL001 reports ``why``."""
        checker = self.checker
        ctx = CaptionContext(
            path=PurePosixPath(path),  # type: ignore[arg-type]
            display=display,
            config=checker.config,
            db=checker.db,
        )
        ctx.decode_error = CaptionDecodeError(display, why)
        return ctx

    def records(self, text: str, path: str = "caption.txt") -> list[DiagnosticRecord]:
        """The caption rules' findings in the engine's compact form, sorted."""
        records = self.checker.check_caption(self.context(text, path))
        records.sort(key=DiagnosticRecord.sort_key)
        return records

    def entry(self, ctx: CaptionContext) -> DatasetEntry:
        """What the dataset rules keep of a checked caption."""
        return DatasetEntry.of(ctx, self._summaries)

    def lint(self, text: str, *, path: str = "caption.txt") -> list[Diagnostic]:
        """Diagnostics of one caption text (see :func:`lint`)."""
        return [Diagnostic.from_record(r) for r in self.records(text, path)]

    def fix(self, text: str, *, unsafe: bool = False) -> str:
        """``text`` with the fixes applied (see :func:`fix`)."""
        return self.checker.fix_text(text, unsafe=unsafe)

    # -- many captions -----------------------------------------------------------------------
    def lint_many(
        self,
        texts: Iterable[str],
        *,
        ids: Sequence[str] | None = None,
        dataset: bool = False,
    ) -> list[list[Diagnostic]]:
        """Diagnostics of each text, in order (one list per text).

        ``ids`` name the captions (file names: ``kanachan_bikini.png``); each diagnostic's
        ``path`` is its caption's id (default ``"0"``, ``"1"``…). With ``dataset=True`` the
        dataset rules also run over the texts (duplicates, one tag spelled two ways, a
        missing trigger, file names that contradict captions) and their findings join the
        caption they point at.
        """
        per_caption = [list(found) for found in self.records_many(texts, ids=ids, dataset=dataset)]
        return [[Diagnostic.from_record(r) for r in found] for found in per_caption]

    def records_many(
        self,
        texts: Iterable[str],
        *,
        ids: Sequence[str] | None = None,
        dataset: bool = False,
    ) -> list[list[DiagnosticRecord]]:
        """:meth:`lint_many` in the engine's compact form."""
        checker = self.checker
        out: list[list[DiagnosticRecord]] = []
        entries: list[DatasetEntry] = []
        names: list[str] = []
        for number, text in enumerate(texts):
            name = ids[number] if ids is not None else str(number)
            ctx = self.context(text, name)
            found = checker.check_caption(ctx)
            found.sort(key=DiagnosticRecord.sort_key)
            out.append(found)
            if dataset:
                entries.append(self.entry(ctx))
                names.append(name)
        if dataset and entries:
            where = {name: index for index, name in enumerate(names)}
            for record in self.dataset_records(entries):
                index = where.get(record.path)
                if index is not None:
                    out[index].append(record)
        return out

    def dataset_records(self, entries: list[DatasetEntry]) -> list[DiagnosticRecord]:
        """The dataset rules' findings over ``entries`` (no images: a table has none)."""
        dataset = DatasetContext(
            captions=entries, images=[], config=self.checker.config, db=self.checker.lookup
        )
        return self.checker.check_dataset(dataset)

    def lint_table(
        self,
        table: pa.Table,
        *,
        column: str = "caption",
        id_column: str | None = None,
    ) -> pa.Table:
        """``table`` with the diagnostics of its ``column`` of captions added.

        New columns: ``diagnostics`` (a list of structs: code, slug, severity, message,
        line, column, end_line, end_column, fixable), ``errors`` and ``warnings`` (counts).
        For columnar engines: ``ray.data.Dataset.map_batches(..., batch_format="pyarrow")``.
        """
        from anima_caption.datasets._arrow import lint_table

        return lint_table(self, table, column=column, id_column=id_column)


_LINTERS: dict[tuple[object, ...], tuple[object, object, Linter]] = {}


def _cached_linter(
    config: CheckConfig | Mapping[str, Any] | None,
    db: TagDB | None,
    select: Sequence[str] | None,
    ignore: Sequence[str] | None,
) -> Linter:
    """One :class:`Linter` per (database, configuration, selection), reused by :func:`lint`."""
    if config is None or isinstance(config, CheckConfig):
        config_key: object = id(config)
    else:
        config_key = json.dumps(dict(config), sort_keys=True, default=repr)
    key = (
        id(db),
        config_key,
        tuple(select or ()),
        tuple(ignore or ()),
        os.getcwd(),  # noqa: PTH109 - per-file ignores are relative to it
    )
    owner = config if isinstance(config, CheckConfig) else None
    cached = _LINTERS.get(key)
    # ids can be reused once an object is gone: the cached objects must be these very ones
    if cached is None or cached[0] is not db or cached[1] is not owner:
        if len(_LINTERS) >= 16:
            _LINTERS.clear()
        cached = (db, owner, Linter(db=db, config=config, select=select, ignore=ignore))
        _LINTERS[key] = cached
    return cached[2]


def lint(
    text: str,
    *,
    db: TagDB | None = None,
    config: CheckConfig | Mapping[str, Any] | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    path: str = "caption.txt",
) -> list[Diagnostic]:
    """Check one caption text with the caption rules; return its diagnostics, in order.

    ``db`` (a :class:`TagDB`) enables the rules that need tag knowledge (non-existent
    tags with suggestions, aliases, ``@artist``…). ``config`` is a :class:`CheckConfig` or
    a mapping of its keys (``{"triggers": ["kanachan"]}``); ``select`` / ``ignore`` take
    codes, slugs or families as on the command line. Dataset rules need many captions: use
    :meth:`Linter.lint_many` with ``dataset=True`` or ``anima-caption check``.

    A convenience over a :class:`Linter` cached per database, configuration and
    selection; for many captions build a :class:`Linter` yourself.

        >>> [d.name for d in lint("1girl, long_hair, general")]
        ['TG001/underscore-in-tag', 'SF003/rating-word']
    """
    return _cached_linter(config, db, select, ignore).lint(text, path=path)


def fix(
    text: str,
    *,
    unsafe: bool = False,
    db: TagDB | None = None,
    config: CheckConfig | Mapping[str, Any] | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
) -> str:
    """``text`` with the rules' safe fixes applied (unsafe ones too with ``unsafe=True``).

    Fixes are applied pass by pass and re-checked until none applies; ``fix(fix(x)) ==
    fix(x)``.

        >>> fix("1girl, long_hair, , smile,")
        '1girl, long hair, smile'
    """
    return _checker(config, db, select, ignore).fix_text(text, unsafe=unsafe)
