"""The ``anima-caption`` command line.

Exit codes (SPEC §7): 0 success / nothing to report, 1 problems found (or files that could
not be processed), 2 usage or configuration error. Errors are one line naming the file and
position; tracebacks are never shown for expected failures.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from anima_caption._errors import AnimaCaptionError, UsageError
from anima_caption._version import __version__

if TYPE_CHECKING:
    from anima_caption._lookup import TagLookup

PROG = "anima-caption"

_MAIN_EPILOG = """\
examples:
  anima-caption format examples/ --diff        show what canonical formatting would change
  anima-caption format examples/ --write       apply it (atomic writes)
  anima-caption parse examples/kanachan_angry.txt
  anima-caption tagdb import danbooru_tags.csv --aliases aliases.csv

Run 'anima-caption COMMAND --help' for a command's options.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line error, as SPEC §7 asks."""

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
    _add_parse(commands)
    _add_format(commands)
    _add_tagdb(commands)
    return parser


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
    try:
        from anima_caption._tagdb import open_default
    except ImportError:  # pragma: no cover - the database module ships with the package
        return None
    db: TagLookup | None = open_default(args.db)
    return db


# -- parse ---------------------------------------------------------------------------------


def _add_parse(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "parse",
        help="show how a caption is parsed (tags, sections, sentences)",
        description="Parse one caption file and print its items: position, type, tag kind, "
        "section and normalised text. Use it to see what the tool understands.",
        epilog="examples:\n  anima-caption parse examples/kanachan_angry.txt\n"
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
    parser.set_defaults(func=_run_format)


def _run_format(args: argparse.Namespace) -> int:
    from anima_caption._errors import CaptionDecodeError, CaptionSyntaxError
    from anima_caption._format import format as format_caption
    from anima_caption._io import (
        encode_caption,
        iter_caption_files,
        read_caption_file,
        write_atomic,
    )

    extensions = tuple(e if e.startswith(".") else f".{e}" for e in (args.ext or [".txt"]))
    files = list(iter_caption_files(args.paths, extensions=extensions))
    if not files:
        raise UsageError(f"no caption files ({', '.join(extensions)}) found in the given paths")
    lookup = _lookup_for(args)
    show_diff = args.diff or not (args.write or args.check)
    changed = unchanged = failed = 0
    for path in files:
        try:
            source = read_caption_file(path)
        except CaptionDecodeError as error:
            print(f"{error}", file=sys.stderr)
            failed += 1
            continue
        if source.empty:
            print(f"{path}: empty caption, nothing to format", file=sys.stderr)
            unchanged += 1
            continue
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
            failed += 1
            continue
        if source.text.endswith(("\n", "\r")):
            new_text += "\n"
        new_data = encode_caption(new_text)
        if new_data == source.data:
            unchanged += 1
            continue
        changed += 1
        if show_diff:
            _print_diff(path, source.text, new_text, bom_removed=source.bom)
        if args.write:
            write_atomic(path, new_data)
            print(f"reformatted {path}", file=sys.stderr)
        elif args.check:
            print(f"would reformat {path}", file=sys.stderr)
    verb = "reformatted" if args.write else "would be reformatted"
    summary = f"{_plural(changed, 'file')} {verb}, {unchanged} unchanged"
    if failed:
        summary += f", {failed} could not be formatted"
    print(summary, file=sys.stderr)
    if failed or (args.check and changed):
        return 1
    return 0


def _print_diff(path: Path, old: str, new: str, *, bom_removed: bool) -> None:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    out = sys.stdout
    for line in lines:
        out.write(
            line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n"
        )
    if bom_removed:
        out.write(f"# {path}: byte-order mark removed\n")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- tagdb ---------------------------------------------------------------------------------


def _add_tagdb(commands: argparse._SubParsersAction[_Parser]) -> None:
    try:
        from anima_caption._tagdb.cli import add_tagdb_parser
    except ImportError:  # pragma: no cover - the database module ships with the package
        return
    add_tagdb_parser(commands)
