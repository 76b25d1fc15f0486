"""The ``convert``, ``edit`` and ``undo`` commands (argparse only at import time)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

_CONVERT_EPILOG = """\
examples:
  anima-caption convert examples/sdxl --from sdxl              diff of what would change
  anima-caption convert data/ --from pony --prefix "masterpiece, best quality, score_7" \\
      --write                                                    rewrite in place (journaled)
  anima-caption convert data/ --from wd14 --trigger kanachan --out data-anima/
                                       mirror the dataset (images hard-linked) and convert
  anima-caption convert data/ --from sdxl --trigger kanachan --policy policy.yaml --write
                                       also drop the core tags the trigger absorbs
  anima-caption convert data/ --from sdxl --apply-suggestions --write
                                       also replace non-existent tags by a confident
                                       suggestion (left side ponytail → side ponytail)
  anima-caption undo data/                                     put the last --write back

rules (every change names one): unescape, underscore, lowercase, weight, break,
keep-tokens, wildcard, rating, safety-conflict, score, pony-source, foreign-quality,
artist-form, artist-at, alias, deprecated, successor, suggestion, duplicate, implied,
absorbed, year, prefix, trigger, reorder, layout. docs/convert.md shows each with an
example. With --apply-suggestions each suggestion applied is listed with its reason
before the file's diff ('# FILE:LINE:COL: suggestion: ...'); only a first suggestion of
confidence >= 0.9 is applied (the others are for 'check' to show).
"""

_EDIT_EPILOG = """\
examples:
  anima-caption edit data/ --remove "brown hair" --remove "brown eyes" --write
  anima-caption edit data/ --replace "left side ponytail=side ponytail" --write
  anima-caption edit data/ --replace "bound hair=side ponytail" --in-text --write
  anima-caption edit data/ --add "blue scrunchie" --where "side ponytail" --write
  anima-caption edit data/ --add kanachan --at character --write
  anima-caption edit data/ --replace "(.*) footwear=\\1 shoes" --regex

Tags are matched normalised (Brown_Hair = brown hair) and whole: removing 'hair' never
touches 'brown hair'. Sentences are only edited with --in-text. Everything else in the
file stays exactly as it was.
"""

_UNDO_EPILOG = """\
examples:
  anima-caption undo data/              restore the files of the last write run
  anima-caption undo data/ --dry-run    show what would be restored
  anima-caption undo data/ --list       list the journal's runs

--run ID undoes a particular run: an id from --list, or its start (20250101T1200).
Files changed since that run are not touched (they are listed; exit code 1).
"""


def add_parsers(commands: Any) -> None:
    """Add ``convert``, ``edit`` and ``undo`` to the ``anima-caption`` subcommands."""
    raw = argparse.RawDescriptionHelpFormatter
    convert = commands.add_parser(
        "convert",
        help="convert SDXL-era captions (WD14, Illustrious/NoobAI, Pony) to Anima format",
        description="Convert SDXL-era captions to Anima format (every rule: docs/convert.md): "
        "spaces for underscores, no escapes/weights/BREAK, rating words → safety tag, '@' on "
        "artists, aliases resolved, deprecated and duplicate tags dropped, sections in order, "
        "sentences kept whole. A dry run with a unified diff and a summary by rule unless "
        "--write (in place, with an undo journal) or --out (into a mirror of the dataset).",
        epilog=_CONVERT_EPILOG,
        formatter_class=raw,
    )
    convert.add_argument("paths", nargs="+", metavar="PATH", help="caption files or folders")
    convert.add_argument(
        "--from",
        dest="dialect",
        required=True,
        choices=("wd14", "sdxl", "pony", "danbooru"),
        help="what wrote the captions: wd14 tagger, sdxl (Illustrious/NoobAI), pony, or "
        "danbooru (post metadata: captions built from the tag_string_* columns and rating)",
    )
    convert.add_argument(
        "--trigger",
        action="append",
        default=[],
        metavar="NAME",
        help="LoRA trigger word (moved into the character section); repeatable",
    )
    convert.add_argument(
        "--prefix",
        default="",
        metavar="TAGS",
        help='tags to add where missing, e.g. "masterpiece, best quality, score_7, safe" '
        "(a score or safety tag only when the caption has none)",
    )
    convert.add_argument(
        "--keep-year", action="store_true", help="keep year tags (dropped by default)"
    )
    convert.add_argument(
        "--prune-implied",
        action="store_true",
        help="drop tags implied by another tag (blue scrunchie ⇒ scrunchie)",
    )
    convert.add_argument(
        "--markers",
        choices=("keep", "remove"),
        default="keep",
        help="kohya '|||' separators and {a|b} wildcards: keep (default) or remove",
    )
    convert.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file: drop the core tags the trigger absorbs (hair/eye colour …)",
    )
    convert.add_argument(
        "--db",
        metavar="PATH",
        help="tag database (default: $ANIMA_CAPTION_TAGDB, then the user cache); without "
        "one only what needs no database is converted, and the summary says so",
    )
    convert.add_argument(
        "--apply-suggestions",
        action="store_true",
        help="replace a tag that does not exist on Danbooru by its first suggestion when "
        "that one is confident (confidence >= 0.9, as 'check --apply-suggestions'); each "
        "is listed with its reason before the file's diff (needs the tag database)",
    )
    _add_output_options(convert, allow_out=True)
    from anima_caption.datasets.cli import add_source_options

    add_source_options(convert, check=False)  # parquet, JSON lines, tar shards…; --num-shards
    convert.set_defaults(func=_run_convert)

    edit = commands.add_parser(
        "edit",
        help="bulk tag edits (replace, remove, add) that never touch other text",
        description="Edit tags across a dataset. Operations run in the order given. A dry "
        "run with a unified diff unless --write (atomic, journaled: 'anima-caption undo' "
        "restores).",
        epilog=_EDIT_EPILOG,
        formatter_class=raw,
    )
    edit.add_argument("paths", nargs="+", metavar="PATH", help="caption files or folders")
    edit.add_argument(
        "--replace",
        dest="ops",
        action=_OpAction,
        metavar="OLD=NEW",
        default=[],
        help="replace tag OLD by NEW; repeatable",
    )
    edit.add_argument(
        "--remove",
        dest="ops",
        action=_OpAction,
        metavar="TAG",
        default=[],
        help="remove tag TAG; repeatable",
    )
    edit.add_argument(
        "--add",
        dest="ops",
        action=_OpAction,
        metavar="TAG",
        default=[],
        help="add tag TAG where missing (after the last tag, or --at); repeatable",
    )
    edit.add_argument(
        "--at",
        metavar="SECTION|INDEX",
        help="where --add puts the tag: prefix, count, character, series, artist, general "
        "(end of that section) or an item index (0 first, -1 last)",
    )
    edit.add_argument(
        "--where",
        metavar="EXPR",
        help="only captions matching EXPR: tags joined by 'and' / 'or', 'not TAG', "
        "'text:PHRASE' (e.g. \"side ponytail and not from behind\")",
    )
    edit.add_argument(
        "--regex",
        action="store_true",
        help="OLD is a regular expression over whole normalised tags (\\1 in NEW)",
    )
    edit.add_argument(
        "--in-text",
        action="store_true",
        help="--replace also edits the phrase inside natural-language sentences",
    )
    edit.add_argument(
        "--trigger",
        action="append",
        default=[],
        metavar="NAME",
        help="trigger word (for --at character); repeatable",
    )
    _add_output_options(edit, allow_out=False)
    edit.set_defaults(func=_run_edit)

    undo = commands.add_parser(
        "undo",
        help="restore the files of the last write run (from the backup journal)",
        description="Every command that writes captions keeps a backup journal in the "
        "dataset's .anima-caption/journal/ folder. undo restores the last run that is not "
        "undone yet (or --run ID), refusing files changed since.",
        epilog=_UNDO_EPILOG,
        formatter_class=raw,
    )
    undo.add_argument("root", metavar="DATASET", help="the dataset folder written to")
    undo.add_argument("--dry-run", action="store_true", help="only show what would be restored")
    undo.add_argument("--list", action="store_true", help="list the runs in the journal")
    undo.add_argument("--run", metavar="ID", help="undo this run (an id from --list)")
    undo.set_defaults(func=_run_undo)


class _OpAction(argparse.Action):
    """Keeps --replace / --remove / --add in command-line order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        ops = list(getattr(namespace, self.dest, None) or [])
        ops.append(((option_string or "").lstrip("-"), str(values)))
        setattr(namespace, self.dest, ops)


def _add_output_options(parser: argparse.ArgumentParser, *, allow_out: bool) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--write", action="store_true", help="write in place (atomic, with an undo journal)"
    )
    if allow_out:
        mode.add_argument(
            "--out",
            metavar="DIR",
            help="write converted captions into DIR, mirroring the dataset (images "
            "hard-linked, copied where links are impossible); the source is not touched",
        )
        parser.add_argument(
            "--copy-images", action="store_true", help="with --out: copy images, never link"
        )
    mode.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any file would change"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no diff, only the summary")
    parser.add_argument(
        "--ext",
        action="append",
        metavar="EXT",
        help="caption file extension in folders (default .txt); repeatable",
    )


def _extensions(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(e if e.startswith(".") else f".{e}" for e in (args.ext or [".txt"]))


def _command_line(args: argparse.Namespace) -> str:
    """The command as the journal records it (for ``undo --list``)."""
    import shlex

    parts = ["anima-caption", args.command]
    if args.command == "convert":
        parts += ["--from", args.dialect]
        for trigger in args.trigger:
            parts += ["--trigger", trigger]
        for flag in ("prefix", "policy", "out"):
            if getattr(args, flag):
                parts += [f"--{flag}", getattr(args, flag)]
        parts += [
            f"--{f.replace('_', '-')}"
            for f in ("keep_year", "prune_implied", "apply_suggestions")
            if getattr(args, f, False)
        ]
    else:
        for kind, value in args.ops:
            parts += [f"--{kind}", value]
        parts += [f"--{f.replace('_', '-')}" for f in ("regex", "in_text") if getattr(args, f)]
    return shlex.join([*parts, *args.paths])


def _run_convert(args: argparse.Namespace) -> int:
    from anima_caption._convert._bulk import run_bulk
    from anima_caption._convert._convert import NEEDS_DATABASE, Converter
    from anima_caption._errors import UsageError, line_column
    from anima_caption._tagdb import open_default

    db = open_default(args.db)
    if args.apply_suggestions and (db is None or not db.has_danbooru_data):
        raise UsageError(
            "--apply-suggestions needs the tag database (build it with 'anima-caption "
            "tagdb import' or 'tagdb pull', or give --db PATH)"
        )
    triggers = list(args.trigger)
    absorbed: set[str] = set()
    if args.policy:
        from anima_caption._policy import load_policy

        policy = load_policy(Path(args.policy))
        if not triggers:
            triggers = list(policy.triggers)
        for trigger in triggers or [None]:
            absorbed |= policy.absorbed_tags(trigger)
    converter = Converter(
        db,
        dialect="sdxl" if args.dialect == "danbooru" else args.dialect,
        triggers=triggers,
        prefix=args.prefix,
        keep_year=args.keep_year,
        prune_implied=args.prune_implied,
        markers=args.markers,
        absorbed=absorbed,
        apply_suggestions=args.apply_suggestions,
    )
    from anima_caption.datasets import cli as datasets_cli

    if datasets_cli.wants_sources(args):  # a dataset file, Danbooru metadata, shards
        return datasets_cli.run_convert(args, None if args.dialect == "danbooru" else converter)
    unknown: dict[str, int] = {}
    # suggestions applied, per file: 'LINE:COL: suggestion: 'old' → 'new' (reason)'
    applied: dict[Path, list[str]] = {}

    def transform(text: str, path: Path) -> tuple[str, list[str]]:
        result = converter.convert(text)
        for tag in result.unknown:
            unknown[tag] = unknown.get(tag, 0) + 1
        notes = [
            f"{':'.join(map(str, line_column(text, c.span[0])))}: {c}"
            for c in result.changes
            if c.rule == "suggestion" and c.span is not None
        ]
        if notes:
            applied[path] = notes
        return result.text, [c.rule for c in result.changes]

    out = Path(args.out) if args.out else None
    report = run_bulk(
        args.paths,
        transform,
        command=_command_line(args),
        write=args.write,
        out=out,
        diff=not (args.quiet or args.check),
        keep_bom=False,
        extensions=_extensions(args),
        link=not args.copy_images,
        notes=lambda path: applied.pop(path, ()),
    )
    err = sys.stderr
    if args.write or out is not None:  # written without a diff: say what was applied
        for path, notes in applied.items():
            for note in notes:
                print(f"anima-caption: applied {path}:{note}", file=err)
    if converter.db is None:
        print(
            "note: no tag database, so these were not checked: " + "; ".join(NEEDS_DATABASE),
            file=err,
        )
    if unknown:
        top = sorted(unknown.items(), key=lambda kv: -kv[1])[:10]
        listed = ", ".join(f"{tag} ({n})" for tag, n in top)
        print(f"{len(unknown)} unknown tags kept as written, most frequent: {listed}", file=err)
    return _finish(report, args, verb="converted", out=out)


def _run_edit(args: argparse.Namespace) -> int:
    from anima_caption._convert._bulk import run_bulk
    from anima_caption._convert._edit import EditOptions, Editor, Operation

    operations = [Operation.parse(kind, value) for kind, value in args.ops]
    editor = Editor(
        operations,
        EditOptions(
            regex=args.regex,
            in_text=args.in_text,
            at=args.at,
            where=args.where,
            triggers=args.trigger,
        ),
    )

    def transform(text: str, path: Path) -> tuple[str, list[str]]:
        result = editor.edit(text)
        return result.text, [change.split(" ", 1)[0] for change in result.changes]

    report = run_bulk(
        args.paths,
        transform,
        command=_command_line(args),
        write=args.write,
        diff=not (args.quiet or args.check),
        keep_bom=True,
        extensions=_extensions(args),
    )
    return _finish(report, args, verb="edited", out=None)


def _finish(report: Any, args: argparse.Namespace, *, verb: str, out: Path | None) -> int:
    err = sys.stderr
    for line in report.failed:
        print(line, file=err)
    if report.by_rule:
        rules = ", ".join(f"{rule} {n}" for rule, n in report.by_rule.most_common())
        print(f"changes by rule: {rules}", file=err)
    files = "file" if report.changed == 1 else "files"
    if args.write or out is not None:
        where = f" into {out}" if out is not None else ""
        summary = f"{report.changed} {files} {verb}{where}, {report.unchanged} unchanged"
        if report.run_ids:
            summary += f"; undo with: anima-caption undo {out or _undo_hint(args.paths)}"
    else:
        summary = f"{report.changed} {files} would be {verb}, {report.unchanged} unchanged"
        if report.changed and not args.check:
            summary += " (dry run: add --write to apply)"
    if report.failed:
        summary += f", {len(report.failed)} not processed"
    print(summary, file=err)
    if report.failed or (args.check and report.changed):
        return 1
    return 0


def _undo_hint(paths: list[str]) -> str:
    first = Path(paths[0])
    return str(first if first.is_dir() else first.parent)


def _run_undo(args: argparse.Namespace) -> int:
    import time

    from anima_caption._errors import UsageError
    from anima_caption._journal import JournalError, list_runs, recover, undo

    root = Path(args.root)
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder (give the dataset folder that was written)")
    out = sys.stdout
    if args.list:
        with contextlib.suppress(JournalError):  # a run in progress: list as it is
            recover(root)
        runs = list_runs(root, untrusted=True)
        if not runs:
            print(f"{root}: no write runs in the journal", file=sys.stderr)
            return 0
        for run in reversed(runs):
            if not run.trusted:
                out.write(f"{run.id}  untrusted, ignored by undo: {run.problem}\n")
                continue
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started))
            state = "undone" if run.undone else run.status
            out.write(
                f"{run.id}  {when}  {run.file_count:>6} files  {state:<11}  {run.command}\n"
            )
        return 0
    result = undo(root, dry_run=args.dry_run, run_id=args.run)
    _report_ignored(root, result.ignored)
    if result.run is None:
        print(f"{root}: nothing to undo (no write run in the journal)", file=sys.stderr)
        return 0
    verb = "would restore" if args.dry_run else "restored"
    for path in result.restored:
        out.write(f"{verb} {path}\n")
    for path, reason in result.refused:
        print(f"{path}: {reason}", file=sys.stderr)
    summary = (
        f"run {result.run.id} ({result.run.command}): {len(result.restored)} files {verb}, "
        f"{len(result.unchanged)} already original"
    )
    if result.refused:
        summary += f", {len(result.refused)} refused"
    print(summary, file=sys.stderr)
    return 1 if result.refused else 0


def _report_ignored(root: Path, ignored: list[Any]) -> None:
    """One warning line per run undo did not trust (at most five, then a count)."""
    for run in ignored[:5]:
        print(f"warning: {run.folder}: ignored: {run.problem}", file=sys.stderr)
    if len(ignored) > 5:
        print(f"warning: {root}: {len(ignored) - 5} more untrusted runs ignored", file=sys.stderr)
