"""The ``anima-caption`` command line.

Exit codes (docs/ci.md, "Exit codes"): 0 success / nothing to report, 1 problems found (or
files that could not be processed), 2 usage or configuration error. Errors are one line
naming the file and position; tracebacks are never shown for expected failures.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from anima_caption._errors import AnimaCaptionError, UsageError
from anima_caption._version import __version__

if TYPE_CHECKING:
    from anima_caption._lookup import TagLookup
    from anima_caption._tagdb import TagDB

PROG = "anima-caption"

_MAIN_EPILOG = """\
examples:
  anima-caption check examples/ --trigger kanachan    lint captions (exit 1 on errors)
  anima-caption check dataset/ --fix                  apply safe fixes
  anima-caption rule TG005                            what a rule checks and why
  anima-caption format examples/ --diff        show what canonical formatting would change
  anima-caption format examples/ --write       apply it (atomic writes)
  anima-caption parse examples/kanachan/kanachan_angry.txt --trigger kanachan
  anima-caption tagdb import danbooru_tags.csv --aliases aliases.csv

Run 'anima-caption COMMAND --help' for a command's options.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line error (docs/ci.md, "Exit codes")."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(
        prog=PROG,
        description="Parse, validate, fix and convert captions for training Anima LoRAs.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_check(commands)
    _add_rules(commands)
    _add_parse(commands)
    _add_format(commands)
    _add_tagdb(commands)
    for module_name in _FEATURE_COMMANDS:
        _add_feature(commands, module_name)
    return parser


# Feature commands live beside their feature. Each module named here defines
# ``add_parsers(commands)``, which adds its subcommands; it must stay light to import
# (argparse only: heavy imports go inside the functions that run the command), because
# the whole table is imported on every start and ``check`` runs in pre-commit hooks.
_FEATURE_COMMANDS = (
    "anima_caption._policy.cli",  # policy report | apply
    "anima_caption._convert.cli",  # convert, edit, undo
    "anima_caption.training.cli",  # train kohya | animalora | diffusion-pipe
    "anima_caption._review.cli",  # review export | apply, report
    "anima_caption.datasets.cli",  # merge (per-shard check summaries)
)


def _add_feature(commands: argparse._SubParsersAction[_Parser], module_name: str) -> None:
    import importlib

    importlib.import_module(module_name).add_parsers(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return 2
        code: int = args.func(args)
        return code
    except AnimaCaptionError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


# -- shared options ------------------------------------------------------------------------


def _add_caption_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trigger",
        action="append",
        default=[],
        metavar="WORD",
        help="a LoRA trigger word (character section); repeat for several",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="tag database to classify tags with (default: $ANIMA_CAPTION_TAGDB, then the "
        "user cache); without one only Anima vocabulary is classified",
    )


def _lookup_for(args: argparse.Namespace) -> TagLookup | None:
    """The tag database named by ``--db`` / the environment / the cache, if there is one."""
    from anima_caption._tagdb import open_default

    db: TagLookup | None = open_default(args.db)
    return db


# -- check ---------------------------------------------------------------------------------

_CHECK_EPILOG = """\
examples:
  anima-caption check dataset/                          lint every caption under dataset/
  anima-caption check dataset/ --trigger kanachan       also require the trigger word
  anima-caption check dataset/ --fix --diff             show what the safe fixes would change
  anima-caption check dataset/ --fix                    apply safe fixes (atomic writes)
  anima-caption check dataset/ --fix --unsafe-fixes     also aliases, re-ordering, '@' …
  anima-caption check dataset/ --fix --unsafe-fixes --apply-suggestions
                                                        also confident suggestions for
                                                        non-existent and removed tags
  anima-caption check dataset/ --format github          annotations in GitHub Actions
  anima-caption check dataset/ --select TG,SF --ignore TG010

exit codes: 0 no errors (warnings allowed), 1 errors remain, 2 usage or config error.
Configuration: anima-caption.yaml or [tool.anima-caption] in pyproject.toml (closest wins).
"""


def _add_check(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "check",
        help="lint captions and datasets (rules with codes, safe and unsafe fixes)",
        description="Check caption files against Anima's caption format and the tag "
        "database: non-existent tags with suggestions, underscores, escapes, weights, rating "
        "words, section order, multi-line and over-long captions, and dataset problems "
        "(images without captions, duplicates, swapped captions). Run 'anima-caption rules' "
        "for the list.",
        epilog=_CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help="caption files or dataset folders (default: .)",
    )
    parser.add_argument("--fix", action="store_true", help="apply safe fixes")
    parser.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="with --fix, also apply unsafe fixes (they change the training signal)",
    )
    parser.add_argument(
        "--apply-suggestions",
        action="store_true",
        help="with --fix --unsafe-fixes, also replace a non-existent or removed tag by its "
        "first suggestion when that one is confident (listed with its reason in the diff)",
    )
    parser.add_argument(
        "--diff",
        action="store_true",
        help="with --fix: print the changes as a unified diff, write nothing",
    )
    parser.add_argument(
        "--format",
        dest="output_format",
        default="text",
        choices=("text", "concise", "json", "github", "sarif", "junit"),
        help="output format (default: text)",
    )
    parser.add_argument("--output-file", metavar="FILE", help="write the report to FILE")
    parser.add_argument(
        "--select",
        metavar="CODES",
        help="comma-separated rules to run: codes, slugs, families (TG) or ALL",
    )
    parser.add_argument("--ignore", metavar="CODES", help="comma-separated rules not to run")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: nearest anima-caption.yaml or "
        "pyproject.toml with [tool.anima-caption])",
    )
    parser.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when errors remain (gradual adoption)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument(  # issue 15 item 13: a .caption dataset was silently skipped
        "--ext",
        action="append",
        metavar="EXT",
        help="caption file extension to look for in folders (default: the config's "
        "caption-extensions, .txt); repeatable",
    )
    _add_caption_options(parser)
    from anima_caption.datasets.cli import add_source_options

    add_source_options(parser, check=True)  # parquet, JSON lines, tar shards…; --num-shards
    parser.set_defaults(func=_run_check)


def _extensions(values: Sequence[str]) -> list[str]:
    """``--ext`` values as extensions (issue 15 item 13): a dot added, an empty one refused."""
    extensions = []
    for value in values:
        extension = value if value.startswith(".") else f".{value}"
        if len(extension) < 2 or "/" in extension or extension.strip() != extension:
            raise UsageError(f"--ext {value!r}: not a file extension (like .txt)")
        extensions.append(extension.lower())
    return extensions


def _split_codes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _run_check(args: argparse.Namespace) -> int:
    from anima_caption._check._configfile import RuleSelection, config_for
    from anima_caption._check._engine import Checker
    from anima_caption._check._output import render

    start = Path(args.paths[0]) if args.paths else Path()
    loaded = config_for(start if start.is_dir() else start.parent, args.config)
    if args.trigger:
        merged = [*loaded.config.triggers, *args.trigger]
        loaded = dataclasses.replace(
            loaded, config=loaded.config.model_copy(update={"triggers": merged})
        )
    if args.ext:  # issue 15 item 13: --ext overrides caption-extensions
        extensions = _extensions(args.ext)
        loaded = dataclasses.replace(
            loaded, config=loaded.config.model_copy(update={"caption_extensions": extensions})
        )
    selection = RuleSelection.from_config(
        loaded.config, _split_codes(args.select), _split_codes(args.ignore), loaded=loaded
    )
    db = _check_db(args)
    from anima_caption.datasets import cli as datasets_cli

    if datasets_cli.wants_sources(args):  # a dataset file, a column mapping, shards
        codes = _split_codes(args.select), _split_codes(args.ignore)
        return datasets_cli.run_check(args, loaded, db, selection, *codes)
    if args.apply_suggestions and not args.unsafe_fixes:
        raise UsageError("--apply-suggestions needs --unsafe-fixes (it changes tags)")
    checker = Checker(loaded, db, selection, apply_suggestions=args.apply_suggestions)
    progress = None if args.no_progress else _progress_bar()
    result = checker.run(
        args.paths,
        fix=args.fix or args.diff,
        unsafe_fixes=args.unsafe_fixes,
        write=args.fix and not args.diff,
        progress=progress,
        journal_command="check --fix"
        + (" --unsafe-fixes" if args.unsafe_fixes else "")
        + (" --apply-suggestions" if args.apply_suggestions else ""),
    )
    if progress is not None:
        progress(-1, -1)
    nothing = ""
    if not result.files:  # issue 15 item 13: a check of nothing is not "All checks passed!"
        nothing = (
            f"no caption files ({', '.join(loaded.config.caption_extensions)}) found in "
            f"{', '.join(args.paths)}: nothing was checked (other extensions need --ext)"
        )
        if not result.records:
            raise UsageError(nothing)
    if result.journal is not None:
        root, _run_id, written = result.journal
        print(
            f"{PROG}: fixed {_plural(written, 'file')}; the originals are in {root}/.anima-caption/"
            f" (undo with: {PROG} undo {root})",
            file=sys.stderr,
        )
    if args.diff:
        for diff in result.diffs:
            sys.stdout.write(diff)
    elif args.apply_suggestions:  # written: say which suggestions were applied, and why
        for diff in result.diffs:
            for line in diff.splitlines():
                if not line.startswith("# "):
                    break
                print(f"{PROG}: applied {line[2:]}", file=sys.stderr)
    out: TextIO
    if args.output_file:
        out = Path(args.output_file).open("w", encoding="utf-8")  # noqa: SIM115
    else:
        out = sys.stdout
    try:
        render(
            result.records,
            fmt=args.output_format,
            out=out,
            sources=result.sources,
            rules=[a.rule.__class__ for a in checker.active],
            show_fixes=True,
            unsafe_fixes=args.unsafe_fixes,
            files_checked=result.files,
            fixed=result.fixed,
            dry_run=args.diff,  # issue 15 item 13: --diff wrote nothing, "Would fix"
            not_written=len(result.refused),  # issue 15 item 11
        )
    finally:
        if out is not sys.stdout:
            out.close()
    if nothing:  # issue 15 item 13: images were reported, but no caption was checked
        print(f"{PROG}: error: {nothing}", file=sys.stderr)
        return 2
    if args.diff and result.diffs:
        return 1
    if result.refused:  # issue 15 item 11: a file that could not be written is a failure
        return 1
    if args.exit_zero:
        return 0
    return 1 if result.errors else 0


def _check_db(args: argparse.Namespace) -> TagDB:
    """The tag database for ``check``; without one, say once how to get it."""
    from anima_caption._tagdb import TagDB, open_default, resolve_db_path
    from anima_caption._tagdb._paths import no_database_hint

    found = open_default(args.db)
    if found is None:
        print(no_database_hint(resolve_db_path(args.db)), file=sys.stderr)
        return TagDB.vocabulary_only()
    return found


def _progress_bar() -> Callable[[int, int], None] | None:
    """A tqdm bar of files on stderr when it is a terminal (runs of 200 files or more)."""
    from anima_caption._progress import progress_bar

    return progress_bar("file")


# -- rules ---------------------------------------------------------------------------------


def _add_rules(commands: argparse._SubParsersAction[_Parser]) -> None:
    listing = commands.add_parser(
        "rules",
        help="list every check rule (code, severity, fix)",
        description="List the rules 'check' runs: code/slug, default severity, fix safety "
        "and summary.",
    )
    listing.set_defaults(func=_run_rules)
    single = commands.add_parser(
        "rule",
        help="explain one rule (what it does, why, example, fix safety)",
        description="Print a rule's documentation.",
        epilog="examples:\n  anima-caption rule TG005\n  anima-caption rule unknown-tag",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    single.add_argument("code", metavar="CODE", help="rule code (TG005) or slug (unknown-tag)")
    single.set_defaults(func=_run_rule)


def _run_rules(args: argparse.Namespace) -> int:
    from anima_caption._check._output import format_rules_table
    from anima_caption._check._registry import all_rules

    sys.stdout.write(format_rules_table(all_rules()))
    return 0


def _run_rule(args: argparse.Namespace) -> int:
    from anima_caption._check._output import format_rule_doc
    from anima_caption._check._registry import get_rule

    rule = get_rule(args.code)
    if rule is None:
        raise UsageError(f"no rule {args.code!r}; 'anima-caption rules' lists them")
    sys.stdout.write(format_rule_doc(rule))
    return 0


# -- parse ---------------------------------------------------------------------------------


def _add_parse(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "parse",
        help="show how a caption is parsed (tags, sections, sentences)",
        description="Parse one caption file and print its items: position, type, tag kind, "
        "section and normalised text. Use it to see what the tool understands.",
        epilog="examples:\n"  # issue 15 item 14: a path that exists, with the trigger
        "  anima-caption parse examples/kanachan/kanachan_angry.txt --trigger kanachan\n"
        "  anima-caption parse caption.txt --json | jq '.items[].text'\n"
        "  echo '1girl, Side_Ponytail' | anima-caption parse -",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="caption file, or - for standard input")
    parser.add_argument("--json", action="store_true", help="print the model as JSON")
    _add_caption_options(parser)
    parser.set_defaults(func=_run_parse)


def _run_parse(args: argparse.Namespace) -> int:
    from anima_caption._io import decode_caption, read_caption_file
    from anima_caption._parse import parse

    if args.file == "-":
        caption_file = decode_caption(sys.stdin.buffer.read(), Path("<stdin>"))
    else:
        path = Path(args.file)
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        caption_file = read_caption_file(path)
    caption = parse(caption_file.text, lookup=_lookup_for(args), triggers=args.trigger)
    out = sys.stdout
    if args.json:
        out.write(caption.model_dump_json(indent=2) + "\n")
        return 0
    _print_caption(caption, out)
    return 1 if caption.errors else 0


def _print_caption(caption: object, out: TextIO) -> None:
    from anima_caption._model import Caption, Group, Item, Tag

    assert isinstance(caption, Caption)
    text = caption.to_text()
    if caption.header is not None:
        title = f" (title: {caption.header.title})" if caption.header.title else ""
        out.write(f"header   {caption.header.dataset}{title}\n")

    def show(items: tuple[Item, ...], depth: int) -> None:
        from anima_caption._errors import line_column

        for item in items:
            line, column = line_column(text, item.span[0])
            where = f"{line}:{column}"
            indent = "  " * depth
            if isinstance(item, Tag):
                detail = f"{item.kind.value:<10} {item.section.value:<10} {item.text}"
            elif item.type == "sentence":
                detail = f"{'':<21} {item.text}"
            elif item.type == "error":
                detail = f"{'':<21} {item.message}"
            else:
                detail = f"{'':<21} {' '.join(item.raw.split())}"
            out.write(f"{where:<8} {indent}{item.type:<9} {detail}\n")
            if isinstance(item, Group):
                show(item.items, depth + 1)

    show(caption.items, 0)


# -- format --------------------------------------------------------------------------------


def _add_format(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "format",
        help="rewrite captions in canonical form (dry run with a diff unless --write)",
        description="Canonical form: lowercase tags with spaces (score_N and kaomoji keep "
        "their characters), no escapes, ', ' separators, one line, Anima section order "
        "(quality/score/safety, people count, character, series, @artist, general), "
        "sentences kept whole, exact duplicates removed. Without --write nothing is "
        "written: the changes are shown as a unified diff.",
        epilog="examples:\n"
        "  anima-caption format dataset/                 show the diff (dry run)\n"
        "  anima-caption format dataset/ --check         exit 1 if anything would change (CI)\n"
        "  anima-caption format dataset/ --write         rewrite the files atomically\n"
        "  anima-caption format a.txt --sentences end    move sentences after the tags",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="caption files or folders")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the changes (atomically)")
    mode.add_argument(
        "--check", action="store_true", help="only report files that would change; exit 1 if any"
    )
    parser.add_argument(
        "--diff", action="store_true", help="print a unified diff (the default without --write)"
    )
    parser.add_argument(
        "--sentences",
        choices=("keep", "end", "after-character"),
        default="keep",
        help="where natural-language sentences go (default: keep them after the tag they followed)",
    )
    parser.add_argument("--no-sort", action="store_true", help="keep the tag order as written")
    parser.add_argument(
        "--keep-duplicates", action="store_true", help="do not remove exact duplicate tags"
    )
    parser.add_argument(
        "--ext",
        action="append",
        metavar="EXT",
        help="caption file extension to look for in folders (default: .txt); repeatable",
    )
    _add_caption_options(parser)
    from anima_caption.datasets.cli import add_input_options

    sources = add_input_options(parser)  # issue 17: parquet, JSON lines, tar shards…
    sources.add_argument(
        "--out",
        metavar="FILE",
        help="issue 17: write every caption, formatted, to FILE (.parquet, .jsonl, .json, "
        "captions.json or a folder); a dataset file is never rewritten in place",
    )
    parser.set_defaults(func=_run_format)


def _run_format(args: argparse.Namespace) -> int:
    from anima_caption._io import (
        iter_caption_files,
    )
    from anima_caption._journal import WriteRun, journal_root
    from anima_caption.datasets import cli as datasets_cli

    if args.out or any(datasets_cli.dataset_source(p, args) for p in args.paths):  # issue 17
        return datasets_cli.run_format(args, _lookup_for(args))
    extensions = tuple(e if e.startswith(".") else f".{e}" for e in (args.ext or [".txt"]))
    files = list(iter_caption_files(args.paths, extensions=extensions))
    if not files:
        raise UsageError(f"no caption files ({', '.join(extensions)}) found in the given paths")
    lookup = _lookup_for(args)
    show_diff = args.diff or not (args.write or args.check)
    changed = unchanged = failed = 0
    run: WriteRun | None = None
    try:
        for path in files:
            outcome = _format_one(path, args, lookup, show_diff)
            if outcome is None:
                failed += 1
            elif not isinstance(outcome, tuple):
                unchanged += 1
            else:
                changed += 1
                source_data, new_data = outcome
                if args.write:
                    if run is None:
                        run = WriteRun(journal_root([Path(p) for p in args.paths]), "format")
                        run.open()
                    refused = run.write_many([(path, new_data, source_data)])
                    for error in refused:
                        print(f"{error}; not overwritten", file=sys.stderr)
                        changed -= 1
                        failed += 1
                    if not refused:
                        print(f"reformatted {path}", file=sys.stderr)
                elif args.check:
                    print(f"would reformat {path}", file=sys.stderr)
    finally:
        if run is not None:
            run.close()
    verb = "reformatted" if args.write else "would be reformatted"
    summary = f"{_plural(changed, 'file')} {verb}, {unchanged} unchanged"
    if failed:
        summary += f", {failed} could not be formatted"
    print(summary, file=sys.stderr)
    if run is not None and run.files_written:
        print(
            f"the originals are in {run.root}/.anima-caption/ (undo with: {PROG} undo {run.root})",
            file=sys.stderr,
        )
    if failed or (args.check and changed):
        return 1
    return 0


def _format_one(
    path: Path, args: argparse.Namespace, lookup: TagLookup | None, show_diff: bool
) -> tuple[bytes, bytes] | bool | None:
    """Format one file: None when it cannot be, False when unchanged, else its bytes
    before and after (the diff already shown when asked)."""
    from anima_caption._errors import CaptionDecodeError, CaptionSyntaxError
    from anima_caption._format import format as format_caption
    from anima_caption._io import encode_caption, read_caption_file, unified_diff

    try:
        source = read_caption_file(path)
    except CaptionDecodeError as error:
        print(f"{error}", file=sys.stderr)
        return None
    if source.empty:
        print(f"{path}: empty caption, nothing to format", file=sys.stderr)
        return False
    try:
        new_text = format_caption(
            source.text,
            lookup=lookup,
            triggers=args.trigger,
            sentences=args.sentences,
            sort=not args.no_sort,
            dedupe=not args.keep_duplicates,
        )
    except CaptionSyntaxError as error:
        print(f"{path}:{error}", file=sys.stderr)
        return None
    if source.text.endswith(("\n", "\r")):
        new_text += "\n"
    new_data = encode_caption(new_text)
    if new_data == source.data:
        return False
    if show_diff:
        sys.stdout.write(unified_diff(str(path), source.text, new_text, bom_removed=source.bom))
    return source.data, new_data


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- tagdb ---------------------------------------------------------------------------------


def _add_tagdb(commands: argparse._SubParsersAction[_Parser]) -> None:
    from anima_caption._tagdb.cli import add_tagdb_parser

    add_tagdb_parser(commands)
