"""The ``anima-caption tagdb`` command: ``import``, ``pull``, ``info``, ``lookup``.

:func:`add_tagdb_parser` is called by ``anima_caption.cli`` to register the command; each
leaf parser sets ``func(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_caption._tagdb._paths import (
    ENV_VAR,
    default_db_path,
    no_database_hint,
    open_default,
    resolve_db_path,
)

if TYPE_CHECKING:
    from anima_caption._tagdb._db import TagDB, TagInfo

_TAGDB_EPILOG = f"""\
The database is one SQLite file. Where it lives: --db PATH, else ${ENV_VAR}, else
{default_db_path()}.

examples:
  anima-caption tagdb pull                              fetch Danbooru's tag data (resumable)
  anima-caption tagdb import danbooru_tags_full_2025-09-24.csv \\
      --aliases danbooru_aliases.csv --implications danbooru_implications.csv
  anima-caption tagdb info
  anima-caption tagdb lookup "left side ponytail" twin_tails "blue scrunchie"
"""

_IMPORT_EPILOG = """\
Tag lists: Danbooru's full list (CSV with header name,category,post_count), tagcomplete
lists (name,category,post_count,"alias1,alias2", no header) or /tags.json API pages.
Give the full list to know which tags are deprecated or removed; tagcomplete lists add
evidence for removed tags (their alias column is only trusted where --aliases confirms it).

examples:
  anima-caption tagdb import danbooru_tags_full_2025-09-24.csv danbooru.csv \\
      --aliases danbooru_aliases.csv --implications danbooru_implications.csv
  anima-caption tagdb import danbooru.csv --db ./tags.sqlite --strict

Malformed rows are reported as FILE:LINE and skipped (--strict stops at the first one);
a file with more malformed rows than valid ones is refused as the wrong file. The
database is written to a temporary file and renamed, so a failed import never damages
an existing database. On a terminal, bars show the progress (--no-progress: none).
"""

_PULL_EPILOG = """\
Fetches /tags.json, /tag_aliases.json and /tag_implications.json page by page (about
1,000 requests for Danbooru's 925k tags). Pages are kept next to the database in
DB.pull/ until the build succeeds, so rerunning after an interruption continues where it
stopped.

examples:
  anima-caption tagdb pull
  anima-caption tagdb pull --rate 0.5 --db ./tags.sqlite
  anima-caption tagdb pull --restart            discard a half-finished pull
"""

_LOOKUP_EPILOG = """\
Each argument is one tag, written either way (side_ponytail, "Side Ponytail", @artist).
Non-existent tags get ranked suggestions with reasons. Exit code 0 when every tag is
known (Danbooru tag, active alias or Anima vocabulary), 1 when one is not.

examples:
  anima-caption tagdb lookup "left side ponytail" "double parted bangs" twin_tails
  anima-caption tagdb lookup "front view" --json
"""


def _add_db_option(parser: argparse.ArgumentParser, *, leaf: bool) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        # On leaves SUPPRESS keeps `tagdb --db X lookup …` working (no overwrite by None).
        default=argparse.SUPPRESS if leaf else None,
        help=f"tag database file (default: ${ENV_VAR}, then {default_db_path()})",
    )


def add_tagdb_parser(subparsers: Any) -> None:
    """Add ``tagdb`` with its ``import``/``pull``/``info``/``lookup`` subcommands."""
    tagdb = subparsers.add_parser(
        "tagdb",
        help="build, refresh and query the Danbooru tag database",
        description="Build, refresh and query the Danbooru tag database.",
        epilog=_TAGDB_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_db_option(tagdb, leaf=False)
    tagdb.set_defaults(func=lambda args: _no_subcommand(tagdb))
    commands = tagdb.add_subparsers(
        dest="tagdb_command", metavar="SUBCOMMAND", parser_class=type(tagdb)
    )
    raw = argparse.RawDescriptionHelpFormatter

    imp = commands.add_parser(
        "import",
        help="build the database from CSV/JSON files",
        description="Build the tag database from tag lists plus alias and implication files.",
        epilog=_IMPORT_EPILOG,
        formatter_class=raw,
    )
    imp.add_argument("files", nargs="+", metavar="FILE", type=Path, help="tag list(s)")
    imp.add_argument(
        "--aliases",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="Danbooru alias CSV (antecedent_name,consequent_name,status,…) or API JSON; "
        "repeatable",
    )
    imp.add_argument(
        "--implications",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="Danbooru implication CSV or API JSON; repeatable",
    )
    imp.add_argument("--strict", action="store_true", help="a malformed row is fatal")
    imp.add_argument(  # issue 15 item 14: 12-30 s of work showed nothing
        "--no-progress",
        action="store_true",
        help="no progress bars on stderr (they are drawn only on a terminal)",
    )
    _add_db_option(imp, leaf=True)
    imp.set_defaults(func=run_import)

    pull = commands.add_parser(
        "pull",
        help="download tags, aliases and implications from Danbooru's API",
        description="Download Danbooru's public tag data and build the database (resumable).",
        epilog=_PULL_EPILOG,
        formatter_class=raw,
    )
    pull.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help="API root (default https://danbooru.donmai.us)",
    )
    pull.add_argument(
        "--rate", type=float, default=1.0, metavar="N", help="at most N requests a second (1)"
    )
    pull.add_argument(
        "--limit", type=int, default=1000, metavar="N", help="rows per page (1000, the maximum)"
    )
    pull.add_argument(
        "--retries", type=int, default=5, metavar="N", help="retries per page, with backoff (5)"
    )
    pull.add_argument("--restart", action="store_true", help="discard pages of an earlier pull")
    pull.add_argument(
        "--contact",
        metavar="EMAIL_OR_URL",
        help="added to the User-Agent so that Danbooru's operators can reach you "
        "(anima-caption/VERSION (tag database pull; +EMAIL_OR_URL))",
    )
    _add_db_option(pull, leaf=True)
    pull.set_defaults(func=run_pull)

    info = commands.add_parser(
        "info",
        help="show counts, dates, sources, hash and size",
        description="Show what the database holds and where it came from.",
        epilog="examples:\n  anima-caption tagdb info\n  anima-caption tagdb info --json\n",
        formatter_class=raw,
    )
    info.add_argument("--json", action="store_true", help="machine-readable output")
    _add_db_option(info, leaf=True)
    info.set_defaults(func=run_info)

    lookup = commands.add_parser(
        "lookup",
        help="look tags up and explain non-existent ones",
        description="Look tags up; explain the ones that do not exist, with suggestions.",
        epilog=_LOOKUP_EPILOG,
        formatter_class=raw,
    )
    lookup.add_argument("tags", nargs="+", metavar="TAG")
    lookup.add_argument("--json", action="store_true", help="machine-readable output")
    lookup.add_argument(
        "--suggestions", type=int, default=5, metavar="N", help="suggestions per tag (5)"
    )
    _add_db_option(lookup, leaf=True)
    lookup.set_defaults(func=run_lookup)


def _no_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _err(text: str) -> None:
    print(text, file=sys.stderr)


# -- import / pull --------------------------------------------------------------------------


def run_import(args: argparse.Namespace) -> int:
    """``tagdb import``: build the database from files."""
    from anima_caption._tagdb._builder import Builder

    target = resolve_db_path(args.db)
    shown = 0

    def on_problem(text: str) -> None:
        nonlocal shown
        shown += 1
        if shown <= 20:
            _err(f"warning: {text} (row skipped)")

    reading, writing = _import_bars(args)
    size_kb = [0]  # of the file being read

    def on_bytes(done: int) -> None:
        if reading is not None:
            reading(done // 1000, size_kb[0])

    builder = Builder(
        strict=args.strict, on_problem=on_problem, on_bytes=on_bytes, on_step=writing
    )
    inputs = [(path, "tags", "") for path in args.files]
    inputs += [(path, "aliases", " (aliases)") for path in args.aliases]
    inputs += [(path, "implications", " (implications)") for path in args.implications]
    try:
        for path, kind, what in inputs:
            _err(f"reading {path}{what}")
            try:
                size_kb[0] = path.stat().st_size // 1000
            except OSError:
                size_kb[0] = 0  # the builder says why it cannot be read
            if kind == "tags":
                builder.add_tags([path])
            else:
                builder.add_relations("aliases" if kind == "aliases" else "implications", [path])
            if reading is not None:
                reading(-1, 0)
        result = builder.write(target)
    finally:
        for bar in (reading, writing):
            if bar is not None:
                bar(-1, 0)
    if shown > 20:
        _err(f"warning: … and {shown - 20} more malformed rows")
    counts = result.counts
    print(
        f"built {target}: {counts['tags']:,} tags, {counts['aliases_active']:,} active "
        f"aliases, {counts['implications_active']:,} active implications, "
        f"{counts['removed']:,} deprecated/removed in {result.seconds:.1f} s"
        + (f"; {result.skipped:,} malformed rows skipped" if result.skipped else "")
    )
    return 0


def _import_bars(
    args: argparse.Namespace,
) -> tuple[Callable[[int, int], None] | None, Callable[[int, int], None] | None]:
    """Progress of ``tagdb import`` on stderr, on a terminal only: kB of each file read,
    then the steps of writing the database; each bar is cleared when done."""
    if args.no_progress:
        return None, None
    from anima_caption._progress import progress_bar

    return (
        progress_bar("kB", minimum=0, desc="reading"),
        progress_bar("step", minimum=0, desc="writing the database"),
    )


def run_pull(args: argparse.Namespace) -> int:
    """``tagdb pull``: download from the API (resumable) and build."""
    from anima_caption._tagdb._pull import (
        DEFAULT_BASE_URL,
        PullOptions,
        check_contact,
        pull,
        state_dir_for,
    )

    target = resolve_db_path(args.db)
    contact = None
    if args.contact is not None:
        try:
            contact = check_contact(args.contact)
        except ValueError as error:
            from anima_caption._errors import UsageError

            raise UsageError(str(error)) from None
    options = PullOptions(
        contact=contact,
        base_url=args.base_url or DEFAULT_BASE_URL,
        rate=args.rate,
        limit=args.limit,
        retries=args.retries,
        restart=args.restart,
        progress=sys.stderr,
    )
    if args.limit < 1 or args.rate <= 0:
        from anima_caption._errors import UsageError

        raise UsageError("--limit must be at least 1 and --rate above 0")
    _err(f"pulling {options.base_url} into {target} (pages kept in {state_dir_for(target)})")
    result = pull(target, options)
    counts = result.counts
    print(
        f"built {target}: {counts['tags']:,} tags, {counts['aliases_active']:,} active "
        f"aliases, {counts['implications_active']:,} active implications, "
        f"{counts['removed']:,} deprecated/removed"
    )
    return 0


# -- info / lookup --------------------------------------------------------------------------


def _open(args: argparse.Namespace) -> tuple[TagDB, bool]:
    from anima_caption._tagdb._db import TagDB

    db = open_default(args.db)
    if db is None:
        _err(no_database_hint(resolve_db_path(args.db)))
        return TagDB.vocabulary_only(), False
    return db, True


def run_info(args: argparse.Namespace) -> int:
    """``tagdb info``: counts, dates, sources, hash, file size."""
    db, found = _open(args)
    from anima_caption._vocab import vocabulary

    vocab = vocabulary()
    info = db.info()
    if args.json:
        data: dict[str, Any] = {
            "database": info.to_dict() if info is not None else None,
            "vocabulary_members": len(vocab.members),
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    if not found or info is None:
        print(f"no database; built-in Anima vocabulary: {len(vocab.members)} tags + patterns")
        return 0
    counts = info.counts
    lines = [
        f"database:      {info.path}",
        f"size:          {info.size_bytes / 1e6:.1f} MB",
        f"schema:        v{info.schema_version}, built {info.built_at} by {info.built_by}",
        f"content hash:  sha256:{info.content_sha256}",
        f"tag list:      {'complete' if info.complete_list else 'partial (tagcomplete)'}"
        + (f", data of {info.complete_list_date}" if info.complete_list_date else ""),
        f"tags:          {counts.get('tags', 0):,} ("
        + ", ".join(
            f"{_CATEGORY_NAMES.get(k, k)} {v:,}" for k, v in sorted(info.categories.items())
        )
        + ")",
        f"aliases:       {counts.get('aliases_active', 0):,} active, "
        f"{counts.get('aliases_other', 0):,} deleted/retired/unconfirmed",
        f"implications:  {counts.get('implications_active', 0):,} active, "
        f"{counts.get('implications_other', 0):,} other",
        f"deprecated:    {counts.get('removed', 0):,} deprecated or removed tags known",
        f"vocabulary:    {len(vocab.members)} built-in Anima tags + patterns",
        "sources:",
    ]
    for source in info.sources:
        date = f", data {source.data_date}" if source.data_date else ""
        skipped = f", {source.skipped:,} skipped" if source.skipped else ""
        lines.append(
            f"  {source.kind:17} {source.name} ({source.rows:,} rows{skipped}{date}; "
            f"sha256:{source.sha256[:12]}…)"
        )
    print("\n".join(lines))
    db.close()
    return 0


_CATEGORY_NAMES = {"0": "general", "1": "artist", "3": "copyright", "4": "character", "5": "meta"}


def run_lookup(args: argparse.Namespace) -> int:
    """``tagdb lookup``: what each tag is, with suggestions for non-existent ones."""
    db, _found = _open(args)
    try:
        infos = db.lookup_many(args.tags)
        results: list[tuple[TagInfo, list[Any]]] = []
        for tag, info in zip(args.tags, infos, strict=True):
            suggestions = db.suggest(tag, limit=args.suggestions) if args.suggestions > 0 else []
            results.append((info, suggestions))
    finally:
        db.close()
    if args.json:
        payload = []
        for info, suggestions in results:
            item = info.to_dict()
            item["suggestions"] = [s.to_dict() for s in suggestions]
            payload.append(item)
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for info, suggestions in results:
            print(_render(info, suggestions))
    return 0 if all(info.known for info, _ in results) else 1


def _render(info: TagInfo, suggestions: list[Any]) -> str:
    head = "known" if info.known else "NOT A TAG"
    lines = [f"{info.query}: {head} ({info.status.value}) — {info.note}"]
    if info.canonical and info.canonical != info.name:
        lines.append(f"  canonical:  {info.canonical}")
    if info.aliases:
        shown = ", ".join(info.aliases[:8]) + (" …" if len(info.aliases) > 8 else "")
        lines.append(f"  aliases:    {shown}")
    if info.implies_all:
        lines.append(f"  implies:    {', '.join(info.implies_all)}")
    if info.source:
        lines.append(f"  source:     {info.source}")
    for suggestion in suggestions:
        count = f" ({suggestion.post_count:,} posts)" if suggestion.post_count else ""
        lines.append(f"  try:        {suggestion.tag}{count} — {suggestion.reason}")
    return "\n".join(lines)
