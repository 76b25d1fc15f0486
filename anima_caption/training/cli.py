"""``anima-caption train kohya|animalora|diffusion-pipe``: argparse only at module level."""

from __future__ import annotations

import argparse
import sys
from typing import Any

_TRAIN_EPILOG = """\
examples:
  anima-caption train kohya examples/kanachan --trigger kanachan --out train-kanachan
  anima-caption train kohya dataset/ --trigger kanachan --out run-kohya --layout hardlink
  anima-caption train animalora dataset/ --trigger kanachan --out run-toolkit --json-sidecars
  anima-caption train diffusion-pipe dataset/ --trigger kanachan --out run-dp \
      --model-dir ~/models
  anima-caption train kohya dataset/ --out run --dry-run      only the cross-checks

The source captions are never modified. Cross-checks run first; errors stop generation
unless --force. Exit codes: 0 generated (warnings allowed), 1 stopped by cross-check
errors, 2 usage error (e.g. a non-empty --out without --overwrite).
"""

_TRAINERS = {
    "kohya": (
        "kohya sd-scripts (anima_train_network.py)",
        "Write a dataset TOML, an anima_train_network.py --config_file TOML, sample prompts "
        "(Anima prefix, CFG 4) and train.sh for kohya sd-scripts.",
    ),
    "animalora": (
        "AnimaLoraToolkit (anima_train.py)",
        "Write an AnimaLoraToolkit YAML and train.sh; with --json-sidecars also JSON caption "
        "sidecars in the shape its code reads (character.full, from_path.extra_appearance).",
    ),
    "diffusion-pipe": (
        "diffusion-pipe ([model] type = 'anima')",
        "Write a diffusion-pipe dataset TOML, main TOML (type = 'anima', llm_adapter_lr = 0) "
        "and train.sh.",
    ),
}


def add_parsers(commands: Any) -> None:
    """Add ``train`` and its trainer subcommands to the ``anima-caption`` parser."""
    train = commands.add_parser(
        "train",
        help="generate trainer configs from a dataset, cross-checked against the captions",
        description="Generate ready-to-run configs for kohya sd-scripts, AnimaLoraToolkit or "
        "diffusion-pipe from a caption dataset, after cross-checking the captions against the "
        "settings (natural language + shuffling, left/right words + flipping, text-encoder "
        "caching, 512-token cuts, missing captions, learning rate …).",
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trainers = train.add_subparsers(dest="trainer", metavar="TRAINER", parser_class=type(train))
    train.set_defaults(func=_missing_trainer(train))
    for name, (summary, description) in _TRAINERS.items():
        parser = trainers.add_parser(
            name,
            help=summary,
            description=description,
            epilog=_TRAIN_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_options(parser, name)
        parser.set_defaults(func=_run_train, trainer=name)


def _missing_trainer(parser: argparse.ArgumentParser) -> Any:
    def run(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return run


def _add_options(parser: argparse.ArgumentParser, trainer: str) -> None:
    parser.add_argument("dataset", metavar="DATASET", help="folder of images and captions")
    from anima_caption.datasets.cli import add_input_options

    add_input_options(parser)  # issue 17: captions from parquet, JSON lines… beside the images
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    parser.add_argument(
        "--trigger",
        action="append",
        default=[],
        metavar="WORD",
        help="the LoRA's trigger word (kept in the fixed prefix); repeat for several",
    )
    parser.add_argument("--policy", metavar="FILE", help="policy YAML (triggers, directions)")
    parser.add_argument(
        "--preset",
        choices=("character", "style", "concept"),
        default="character",
        help="starting values (default: character: rank 32, lr 4e-5, 10 repeats, 10 epochs)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help="repeats per image (default: preset; N_name folders keep N)",
    )
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs (default: preset)")
    parser.add_argument(
        "--rank", type=int, metavar="N", help="LoRA rank; alpha = rank (default: preset)"
    )
    parser.add_argument(
        "--lr",
        type=float,
        metavar="X",
        help="learning rate (default: preset; Anima guidance 2e-5 … 5e-5)",
    )
    parser.add_argument("--batch-size", type=int, metavar="N", help="batch size (default: 1)")
    parser.add_argument(
        "--grad-accum", type=int, metavar="N", help="gradient accumulation steps (default: 1)"
    )
    parser.add_argument(
        "--resolution", type=int, metavar="PX", help="training resolution (default: 1024)"
    )
    parser.add_argument(
        "--model-dir",
        nargs="+",
        default=[],
        metavar="PATH",
        help="folders to look for the Anima DiT, Qwen3-0.6B, the Qwen-Image VAE and the T5 "
        "tokenizer in (placeholders are written for what is not found)",
    )
    parser.add_argument(
        "--shuffle",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="shuffle caption tags (default: on only for tag-only captions)",
    )
    parser.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="flip augmentation (default: off for character; otherwise off when captions "
        "say left/right)",
    )
    parser.add_argument(
        "--tag-dropout", type=float, metavar="RATE", help="tag dropout rate (default: 0)"
    )
    if trainer == "kohya":
        parser.add_argument(
            "--cache-text-encoder",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="cache text-encoder outputs (default: on unless shuffle/dropout/warm-up)",
        )
        parser.add_argument(
            "--token-warmup-step",
            type=int,
            default=0,
            metavar="N",
            help="sd-scripts token warm-up steps",
        )
        parser.add_argument(
            "--keep-tokens-separator",
            metavar="SEP",
            help="write captions with SEP after the fixed prefix into --out (e.g. '|||') "
            "instead of relying on keep_tokens; needs shuffling",
        )
    if trainer in ("kohya", "diffusion-pipe", "animalora"):
        parser.add_argument(
            "--layout",
            choices=("subsets", "hardlink", "symlink", "copy"),
            default="subsets",
            help="subsets: configs point at the original folders (default); hardlink / "
            "symlink / copy: build N_name folders in DIR/dataset",
        )
    if trainer == "animalora":
        parser.add_argument(
            "--json-sidecars",
            action="store_true",
            help="write JSON caption sidecars (character.full, from_path.extra_appearance) "
            "beside linked images in DIR/dataset instead of using the .txt captions",
        )
    parser.add_argument(
        "--caption-extension",
        metavar="EXT",
        help="caption extension (default: what the dataset has, .txt first)",
    )
    parser.add_argument(
        "--name", metavar="NAME", help="output name of the LoRA (default: the trigger)"
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="tag database (character / series / artist tags join the fixed prefix)",
    )
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    parser.add_argument(
        "--force", action="store_true", help="generate even when cross-checks report errors"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run the cross-checks and list the files; write nothing",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the plan (settings and findings) as JSON"
    )


def _run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pydantic import ValidationError

    from anima_caption._errors import UsageError
    from anima_caption.training import TrainOptions, plan_files, plan_training, write_plan
    from anima_caption.training._output import check_out_dir

    try:
        options = TrainOptions(
            preset=args.preset,
            triggers=tuple(args.trigger),
            name=args.name,
            repeats=args.repeats,
            epochs=args.epochs,
            rank=args.rank,
            lr=args.lr,
            batch_size=args.batch_size,
            grad_accum=args.grad_accum,
            resolution=args.resolution,
            shuffle=args.shuffle,
            flip=args.flip,
            tag_dropout=args.tag_dropout,
            cache_text_encoder=getattr(args, "cache_text_encoder", None),
            token_warmup_step=getattr(args, "token_warmup_step", 0),
            keep_tokens_separator=getattr(args, "keep_tokens_separator", None),
            caption_extension=args.caption_extension,
            layout=getattr(args, "layout", "subsets"),
            json_sidecars=getattr(args, "json_sidecars", False),
            model_dirs=tuple(Path(p) for p in args.model_dir),
            policy=Path(args.policy) if args.policy else None,
        )
    except ValidationError as error:
        first = error.errors()[0]
        field = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "option"
        raise UsageError(f"{field}: {first['msg']}") from None
    out = Path(args.out)
    if not args.dry_run:
        check_out_dir(out, overwrite=args.overwrite)
    lookup = _lookup(args.db)
    from anima_caption.cli import _progress_bar
    from anima_caption.datasets.cli import dataset_source

    plan = plan_training(
        args.trainer,
        args.dataset,
        out,
        options,
        lookup=lookup,
        progress=_progress_bar(),
        source=dataset_source(args.dataset, args),  # issue 17: any dataset source
    )
    if args.json:
        sys.stdout.write(plan.model_dump_json(indent=2) + "\n")
    report = sys.stderr if args.json else sys.stdout
    for finding in plan.findings:
        print(finding, file=report)
    errors = len(plan.errors)
    warnings = sum(1 for f in plan.findings if f.severity == "warning")
    summary = (
        f"{_plural(plan.images, 'image')}, {_plural(plan.captions, 'caption')}: "
        f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    )
    if errors and not args.force:
        print(f"{summary}. Nothing written: fix the errors or pass --force.", file=report)
        return 1
    if args.dry_run:
        for item in plan_files(plan):
            print(f"would write {out / item.path}", file=report)
        print(f"{summary}. Dry run: nothing written.", file=report)
        return 1 if errors else 0
    written = write_plan(plan, overwrite=args.overwrite)
    forced = " (despite errors: --force)" if errors else ""
    configs = [p for p in written if p.parent == plan.out]
    for path in configs:
        print(f"wrote {path}", file=report)
    linked = len(written) - len(configs)
    if linked:
        print(f"built {plan.out / 'dataset'} ({linked} files, {plan.layout})", file=report)
    print(f"{summary}. Ready{forced}: {plan.out / 'train.sh'}", file=report)
    return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _lookup(db: str | None) -> Any:
    if db is None:
        return None
    from anima_caption._tagdb import open_default

    return open_default(db)
