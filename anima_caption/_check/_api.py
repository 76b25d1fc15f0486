"""``lint`` and ``fix`` for scripts: one caption text in, diagnostics or fixed text out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_caption._check._config import CheckConfig
from anima_caption._check._configfile import LoadedConfig, RuleSelection
from anima_caption._check._context import CaptionContext
from anima_caption._check._diagnostic import Diagnostic, DiagnosticRecord
from anima_caption._check._engine import Checker
from anima_caption._io import decode_caption
from anima_caption._parse import parse

if TYPE_CHECKING:
    from anima_caption._tagdb import TagDB


def _checker(
    config: CheckConfig | Mapping[str, Any] | None,
    db: TagDB | None,
    select: Sequence[str] | None,
    ignore: Sequence[str] | None,
) -> Checker:
    if config is None:
        settings = CheckConfig.defaults()
    elif isinstance(config, CheckConfig):
        settings = config
    else:
        settings = CheckConfig.model_validate(dict(config))
    loaded = LoadedConfig(config=settings, path=None, root=Path.cwd())
    selection = RuleSelection.from_config(
        settings, list(select) if select else None, list(ignore) if ignore else None
    )
    return Checker(loaded, db, selection)


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
    codes, slugs or families as on the command line. Dataset rules need files: use
    ``anima-caption check``.

        >>> [d.name for d in lint("1girl, long_hair, general")]
        ['TG001/underscore-in-tag', 'SF003/rating-word']
    """
    checker = _checker(config, db, select, ignore)
    ctx = CaptionContext(path=Path(path), display=path, config=checker.config, db=checker.db)
    ctx.file = decode_caption(text.encode("utf-8"), Path(path))
    ctx.caption = parse(text, lookup=checker.lookup, triggers=checker.config.triggers)
    records = sorted(checker.check_caption(ctx), key=DiagnosticRecord.sort_key)
    return [Diagnostic.from_record(r) for r in records]


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
