"""Dataset-source options for ``check`` and ``convert``, and the ``merge`` command.

Light at import time (argparse only), as every command module: the work is imported by
the functions that run it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from anima_caption._errors import UsageError

if TYPE_CHECKING:
    from anima_caption._check._configfile import LoadedConfig, RuleSelection
    from anima_caption._convert._convert import Converter
    from anima_caption._tagdb import TagDB
    from anima_caption.datasets._sources import ShardFilter, Source

_FORMATS = ("auto", "folder", "jsonl", "json", "parquet", "danbooru", "webdataset")

_MERGE_EPILOG = """\
examples:
  anima-caption check data/*.parquet --column caption --num-shards 4 --shard-index 0 \\
      --summary shard-0.json.gz          (one per shard: a Slurm array, a Kubernetes job)
  anima-caption merge shard-*.json.gz    the dataset rules over every shard, and the totals

exit codes: 0 no errors, 1 errors in a shard or found by the dataset rules, 2 usage error.
"""


def add_input_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """``--input``, ``--column``, ``--id-column``: how a dataset file is read (every command
    that reads a dataset takes them)."""
    group = parser.add_argument_group(
        "dataset sources",
        "PATH may also be a parquet, JSON lines, JSON (sd-scripts metadata, diffusion-pipe "
        "captions.json) or WebDataset tar file; see docs/datasets.md",
    )
    group.add_argument(
        "--input",
        dest="input_format",
        choices=_FORMATS,
        default="auto",
        help="what PATH holds (default: from its name; a parquet file with Danbooru's "
        "tag_string_* columns is read as Danbooru post metadata)",
    )
    group.add_argument(
        "--column", metavar="NAME", help="the caption column or key (default: caption, text…)"
    )
    group.add_argument(
        "--id-column",
        metavar="NAME",
        help="the column naming each row (default: file_name, image_key, id…; else the row)",
    )
    return group


def add_source_options(parser: argparse.ArgumentParser, *, check: bool) -> None:
    """:func:`add_input_options`, shard options (and ``--out`` for check)."""
    group = add_input_options(parser)
    group.add_argument(
        "--num-shards", type=int, default=1, metavar="N", help="split the dataset into N shards"
    )
    group.add_argument(
        "--shard-index", type=int, default=0, metavar="I", help="run shard I (0-based) only"
    )
    group.add_argument(
        "--summary",
        metavar="FILE",
        help="with --num-shards: write this shard's summary here (for 'anima-caption merge'; "
        "default shard-I-of-N.json.gz)",
    )
    if check:
        group.add_argument(
            "--engine",
            choices=("local", "ray"),
            default="local",
            help="where the work runs: this process (default), or a Ray cluster "
            "(pip install 'anima-caption[ray]'; actors open the tag database once)",
        )
        group.add_argument(
            "--jobs",
            type=int,
            default=0,
            metavar="N",
            help="local worker processes (default: one per core for parquet of 1,000,000 "
            "rows or more without --fix / --out, else 1)",
        )
        group.add_argument(
            "--address",
            metavar="ADDR",
            help="with --engine ray: the cluster to join (default: a local one, every CPU)",
        )
        group.add_argument(
            "--workers",
            type=int,
            metavar="N",
            help="with --engine ray: actors (default: one per CPU, each asking for half a CPU)",
        )
        group.add_argument(
            "--out",
            metavar="FILE",
            help="also write every caption (fixed, with --fix) and its diagnostics to FILE "
            "(.parquet, .jsonl)",
        )


def wants_sources(args: argparse.Namespace) -> bool:
    """Whether the run goes through the dataset sources (else: the folder engine)."""
    from anima_caption.datasets._sources import is_dataset_file

    if args.input_format != "auto" or args.column or args.id_column or args.num_shards > 1:
        return True
    if getattr(args, "engine", "local") != "local":
        return True
    if getattr(args, "dialect", None) == "danbooru":
        return True
    out = getattr(args, "out", None)
    if out and (is_dataset_file(out) or args.command == "check"):
        return True
    return any(is_dataset_file(p) and not Path(p).is_dir() for p in args.paths)


def _shard(args: argparse.Namespace) -> ShardFilter:
    from anima_caption.datasets._sources import ShardFilter

    return ShardFilter(args.num_shards, args.shard_index)


def open_sources(args: argparse.Namespace, *, prefix: str = "") -> list[Source]:
    """The sources the paths name (``--input`` / ``--column`` apply to each)."""
    from anima_caption.datasets._sources import open_source

    fmt = args.input_format
    if getattr(args, "dialect", None) == "danbooru" and fmt == "auto":
        fmt = "danbooru"
    extensions = tuple(
        e if e.startswith(".") else f".{e}" for e in (getattr(args, "ext", None) or [".txt"])
    )
    return [
        open_source(
            path,
            fmt=fmt,
            column=args.column,
            id_column=args.id_column,
            extensions=extensions,
            prefix=prefix,
        )
        for path in args.paths
    ]


def _summary_path(args: argparse.Namespace) -> Path | None:
    if args.num_shards <= 1 and not args.summary:
        return None
    if args.summary:
        return Path(args.summary)
    return Path(f"shard-{args.shard_index}-of-{args.num_shards}.json.gz")


# -- check -----------------------------------------------------------------------------------


def run_check(
    args: argparse.Namespace,
    loaded: LoadedConfig,
    db: TagDB | None,
    selection: RuleSelection,
    select: list[str] | None,
    ignore: list[str] | None,
) -> int:
    """``check`` over dataset sources."""
    from anima_caption._check._api import Linter
    from anima_caption.datasets._run import check_sources
    from anima_caption.datasets._sinks import open_sink

    if args.fix and not args.diff and not args.out:
        raise UsageError(
            "--fix on a dataset file needs --out FILE (the source is never rewritten) or --diff"
        )
    sources = open_sources(args)
    writes = bool(args.fix or args.diff or args.out)
    jobs = 1 if args.engine == "ray" else _jobs(args, sources, writes)
    if jobs > 1 and writes:
        raise UsageError("--jobs above 1 checks and reports; --fix, --diff and --out run in one")
    linter = Linter.from_parts(loaded, db, selection)
    shard = _shard(args)
    summary = _summary_path(args)
    sink = None
    if args.out:
        sink = open_sink(
            args.out,
            command="check",
            sources=[s.path for s in sources],
            column=args.column,
            id_column=args.id_column,
            diagnostics=True,
        )
    if args.engine == "ray":
        return _check_ray(args, linter, sources, summary)
    if jobs > 1:
        from anima_caption.datasets._run import check_parallel

        check = check_parallel(linter, sources, workers=jobs, dataset_rules=summary is None)
        return _report_check(args, loaded, linter, check, summary, shard, select, ignore)
    ok = False
    try:
        check = check_sources(
            linter,
            sources,
            shard=shard,
            dataset_rules=summary is None,
            sink=sink,
            fix=args.fix or args.diff,
            unsafe=args.unsafe_fixes,
        )
        ok = True
    finally:
        if sink is not None:
            sink.close(ok=ok)
    return _report_check(args, loaded, linter, check, summary, shard, select, ignore)


def _jobs(args: argparse.Namespace, sources: list[Source], writes: bool) -> int:
    import os

    from anima_caption.datasets._run import PARALLEL_ROWS, known_rows

    if args.jobs < 0:
        raise UsageError(f"--jobs must be 0 (automatic) or more, not {args.jobs}")
    if args.jobs:
        return int(args.jobs)
    if writes or args.num_shards > 1 or known_rows(sources) < PARALLEL_ROWS:
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def _check_ray(
    args: argparse.Namespace, linter: Any, sources: list[Source], summary: Path | None
) -> int:
    from anima_caption.datasets._ray import check_ray

    if args.fix or args.diff or args.out or args.num_shards > 1 or summary is not None:
        raise UsageError(
            "--engine ray checks and reports; --fix, --diff, --out and --num-shards run "
            "with the local engine"
        )
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    check = check_ray(linter, sources, address=args.address, workers=args.workers)
    return _report_check(args, None, linter, check, None, None, None, None)


def _report_check(
    args: argparse.Namespace,
    loaded: Any,
    linter: Any,
    check: Any,
    summary: Path | None,
    shard: Any,
    select: list[str] | None,
    ignore: list[str] | None,
) -> int:
    from anima_caption._check._output import render, render_stream
    from anima_caption.datasets._run import write_summary

    result = check.result
    if summary is not None:
        write_summary(summary, check, loaded=loaded, select=select, ignore=ignore, shard=shard)
        print(
            f"shard {shard.shard_index} of {shard.num_shards}: {result.files} captions; "
            f"summary in {summary} (dataset rules: anima-caption merge)",
            file=sys.stderr,
        )
    if args.diff:
        for diff in result.diffs:
            sys.stdout.write(diff)
    out: TextIO
    out = Path(args.output_file).open("w", encoding="utf-8") if args.output_file else sys.stdout  # noqa: SIM115
    found = check.found
    rules = [a.rule.__class__ for a in linter.checker.active]
    try:
        if found is not None:  # streamed: written in order as the spill merges its runs
            render_stream(
                found.merged(),
                fmt=args.output_format,
                out=out,
                rules=rules,
                show_fixes=True,
                unsafe_fixes=args.unsafe_fixes,
                files_checked=result.files,
                fixed=result.fixed,
            )
        else:
            render(
                result.records,
                fmt=args.output_format,
                out=out,
                sources=result.sources,
                rules=rules,
                show_fixes=True,
                unsafe_fixes=args.unsafe_fixes,
                files_checked=result.files,
                fixed=result.fixed,
            )
    finally:
        if out is not sys.stdout:
            out.close()
        errors = found.shown["error"] if found is not None else result.errors
        check.close()
    if args.out:
        print(
            f"wrote {result.files} captions with their diagnostics to {args.out}", file=sys.stderr
        )
    if args.diff and result.diffs:
        return 1
    if args.exit_zero:
        return 0
    return 1 if errors else 0


# -- convert ---------------------------------------------------------------------------------


def run_convert(args: argparse.Namespace, converter: Converter | None) -> int:
    """``convert`` over dataset sources (``converter`` None: Danbooru metadata, whose
    captions are built from its columns)."""
    from anima_caption.datasets._run import convert_sources
    from anima_caption.datasets._sinks import open_sink

    if args.write:
        raise UsageError(
            "--write rewrites caption files in place; a dataset file is never rewritten: "
            "use --out FILE (.parquet, .jsonl, .json, captions.json or a folder)"
        )
    sources = open_sources(args, prefix=args.prefix if converter is None else "")
    if converter is not None and any(s.kind == "danbooru" for s in sources):
        converter = None  # Danbooru metadata: the captions are built from the columns
    sink = None
    if args.out:
        sink = open_sink(
            args.out,
            command=f"convert --from {args.dialect}",
            sources=[s.path for s in sources],
            column=args.column,
            id_column=args.id_column,
            changes=True,
        )
    ok = False
    try:
        report = convert_sources(
            converter,
            sources,
            shard=_shard(args),
            sink=sink,
            diff=not (args.quiet or args.check or args.out),
        )
        ok = True
    finally:
        if sink is not None:
            sink.close(ok=ok)
    err = sys.stderr
    for line in report.failed[:50]:
        print(line, file=err)
    if len(report.failed) > 50:
        print(f"... and {len(report.failed) - 50} more not converted", file=err)
    if report.by_rule:
        rules = ", ".join(f"{rule} {n}" for rule, n in report.by_rule.most_common())
        print(f"changes by rule: {rules}", file=err)
    total = report.changed + report.unchanged
    if args.out:
        summary = f"{total} captions written to {args.out} ({report.changed} changed)"
    else:
        summary = f"{report.changed} captions would be converted, {report.unchanged} unchanged"
        if report.changed and not args.check:
            summary += " (dry run: add --out FILE to write them)"
    if report.failed:
        summary += f", {len(report.failed)} not processed"
    print(summary, file=err)
    if report.failed or (args.check and report.changed):
        return 1
    return 0


# -- merge -----------------------------------------------------------------------------------


def add_parsers(commands: Any) -> None:
    """Add ``merge`` to the ``anima-caption`` subcommands."""
    merge = commands.add_parser(
        "merge",
        help="combine per-shard check summaries and run the dataset-wide rules",
        description="Read the summaries that 'check --num-shards N --shard-index I' wrote, "
        "add up their counts and run the dataset rules (duplicate captions, one tag spelled "
        "two ways, trigger coverage, file names that contradict captions) over all of them.",
        epilog=_MERGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merge.add_argument("summaries", nargs="+", metavar="SUMMARY", help="shard summary files")
    merge.add_argument(
        "--format",
        dest="output_format",
        default="text",
        choices=("text", "concise", "json", "github", "sarif", "junit"),
        help="output format of the dataset findings (default: text)",
    )
    merge.add_argument("--output-file", metavar="FILE", help="write the report to FILE")
    merge.add_argument("--db", metavar="PATH", help="tag database (as for check)")
    merge.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when errors were found"
    )
    merge.set_defaults(func=_run_merge)


def _run_merge(args: argparse.Namespace) -> int:
    from anima_caption._check._output import render
    from anima_caption._tagdb import open_default
    from anima_caption.datasets._run import merge_summaries, run_dataset_rules

    summaries, linter = merge_summaries([Path(p) for p in args.summaries], open_default(args.db))
    found = run_dataset_rules(linter, summaries)
    files = sum(s.files for s in summaries)
    counts: dict[str, int] = {}
    severity: dict[str, int] = {}
    for summary in summaries:
        for code, n in summary.counts.items():
            counts[code] = counts.get(code, 0) + n
        for name, n in summary.severity.items():
            severity[name] = severity.get(name, 0) + n
    out: TextIO
    out = Path(args.output_file).open("w", encoding="utf-8") if args.output_file else sys.stdout  # noqa: SIM115
    try:
        render(
            found,
            fmt=args.output_format,
            out=out,
            sources={},
            rules=[a.rule.__class__ for a in linter.checker.active],
            show_fixes=False,
            unsafe_fixes=False,
            files_checked=files,
            fixed=0,
        )
    finally:
        if out is not sys.stdout:
            out.close()
    shard_errors = severity.get("error", 0)
    top = ", ".join(f"{code} {n}" for code, n in sorted(counts.items(), key=lambda kv: -kv[1])[:8])
    print(
        f"{len(summaries)} shards, {files} captions: {shard_errors} errors and "
        f"{severity.get('warning', 0)} warnings in the shards"
        + (f" ({top})" if top else "")
        + f"; the dataset rules found {len(found)}",
        file=sys.stderr,
    )
    dataset_errors = sum(1 for r in found if r.severity == "error")
    if args.exit_zero:
        return 0
    return 1 if shard_errors or dataset_errors else 0


# -- the other commands that read a dataset --------------------------------------------------


def dataset_source(path: str | Path, args: argparse.Namespace) -> Source | None:
    """The source ``path`` names when it is a dataset file (or ``--input`` / ``--column``
    say how to read it); None for a folder or caption file, which the command reads as it
    always has."""
    from anima_caption.datasets._sources import is_dataset_file, open_source

    fmt = getattr(args, "input_format", "auto")
    column = getattr(args, "column", None)
    id_column = getattr(args, "id_column", None)
    named = fmt not in ("auto", "folder") or column is not None or id_column is not None
    if fmt == "folder" or not (named or (is_dataset_file(path) and not Path(path).is_dir())):
        return None
    return open_source(path, fmt=fmt, column=column, id_column=id_column)


def run_format(args: argparse.Namespace, lookup: Any) -> int:
    """``format`` over dataset sources: a diff per caption that would change (dry run),
    ``--check``, or ``--out FILE`` with every caption formatted (the source is never
    rewritten)."""
    from anima_caption._errors import CaptionSyntaxError
    from anima_caption._format import format as format_caption
    from anima_caption._io import unified_diff
    from anima_caption.datasets._sinks import Output, open_sink
    from anima_caption.datasets._sources import open_source

    if args.write:
        raise UsageError(
            "--write rewrites caption files in place; a dataset file is never rewritten: "
            "use --out FILE (.parquet, .jsonl, .json, captions.json or a folder)"
        )
    sources = [
        dataset_source(p, args) or open_source(p, fmt="folder", extensions=_extensions(args))
        for p in args.paths
    ]
    sink = None
    if args.out:
        sink = open_sink(
            args.out,
            command="format",
            sources=[s.path for s in sources],
            column=args.column,
            id_column=args.id_column,
        )
    show_diff = args.diff or not (args.check or args.out)
    changed = unchanged = failed = 0
    ok = False
    err = sys.stderr
    try:
        for source, record in _records(sources):
            display = source.display(record)
            if record.error is not None:
                print(f"{display}: {record.error}", file=err)
                failed += 1
                continue
            text = record.text
            try:
                new = format_caption(
                    text,
                    lookup=lookup,
                    triggers=args.trigger,
                    sentences=args.sentences,
                    sort=not args.no_sort,
                    dedupe=not args.keep_duplicates,
                )
            except CaptionSyntaxError as error:
                print(f"{display}:{error}".splitlines()[0], file=err)
                failed += 1
                new = None
            if new is not None and text.endswith(("\n", "\r")):
                new += "\n"
            if new is None or new == text:
                unchanged += new is not None
            else:
                changed += 1
                if show_diff:
                    sys.stdout.write(unified_diff(display, text, new))
                elif args.check:
                    print(f"would reformat {display}", file=err)
            if sink is not None:
                sink.write(Output(record, text if new is None else new))
        ok = True
    finally:
        if sink is not None:
            sink.close(ok=ok)
    verb = "reformatted" if args.out else "would be reformatted"
    summary = f"{changed} caption{'' if changed == 1 else 's'} {verb}, {unchanged} unchanged"
    if failed:
        summary += f", {failed} could not be formatted"
    if args.out:
        summary += f"; every caption written to {args.out}"
    print(summary, file=err)
    return 1 if failed or (args.check and changed) else 0


def _extensions(args: argparse.Namespace) -> tuple[str, ...]:
    found = getattr(args, "ext", None) or [".txt"]
    return tuple(e if e.startswith(".") else f".{e}" for e in found)


def _records(sources: list[Source]) -> Any:
    from anima_caption.datasets._run import iter_records

    return iter_records(sources)
