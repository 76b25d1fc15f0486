"""From a dataset and options to a :class:`TrainingPlan`: presets, auto settings, subsets,
model paths, sample prompts, then the cross-checks."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from anima_caption._errors import UsageError
from anima_caption.training._models import (
    ModelPaths,
    Subset,
    Trainer,
    TrainingPlan,
    TrainOptions,
)
from anima_caption.training._scan import DatasetScan, Folder, scan_dataset


@cache
def presets() -> dict[str, Any]:
    """The preset table (``data/presets.yaml``): ``guidance`` and ``presets``."""
    import yaml

    data: dict[str, Any] = yaml.safe_load(
        (Path(__file__).resolve().parent / "data" / "presets.yaml").read_text(encoding="utf-8")
    )
    return data


class _PolicyFacts:
    """What a policy file adds: trigger names and whether it declares directional
    attributes (a side that flipping would swap)."""

    def __init__(self, triggers: tuple[str, ...] = (), directional: bool = False) -> None:
        self.triggers = triggers
        self.directional = directional


def _load_policy(path: Path | None) -> _PolicyFacts:
    if path is None:
        return _PolicyFacts()
    if not path.is_file():
        raise UsageError(f"{path}: no such policy file")
    from anima_caption._policy import load_policy

    policy = load_policy(path)
    return _PolicyFacts(tuple(policy.trigger_names()), bool(policy.has_directional_attributes()))


def plan_training(
    trainer: Trainer,
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: TrainOptions | None = None,
    *,
    lookup: Any = None,
    progress: Callable[[int, int], None] | None = None,
    source: Any = None,
) -> TrainingPlan:
    """Read ``dataset`` (never writing to it) and plan a ``trainer`` run into ``out``.

    ``lookup`` (a :class:`~anima_caption.TagDB`) lets character, series and artist tags
    count as fixed prefix; without it the prefix is Anima vocabulary, people count and the
    trigger words. The plan's ``findings`` hold the cross-checks; nothing is written.

    ``source`` (an :class:`anima_caption.datasets.Source`, issue 17) takes the captions
    from a dataset file instead: the images are those in its folder, paired by stem, and
    the captions are written beside linked images in ``out``.
    """
    from anima_caption.training._checks import cross_check

    options = options or TrainOptions()
    root = Path(dataset) if source is None else source.path.parent
    if not root.is_dir():
        raise UsageError(f"{root}: not a dataset folder")
    out_dir = Path(out)
    root_abs, out_abs = root.resolve(), out_dir.resolve()
    if out_abs == root_abs or root_abs in out_abs.parents:
        raise UsageError(
            f"--out {out_dir} is inside the dataset {root}: the trainers would read the "
            "generated folder as more training images; choose a folder outside it"
        )
    policy = _load_policy(options.policy)
    triggers = tuple(dict.fromkeys([*options.triggers, *policy.triggers]))
    ext = options.caption_extension
    if ext is not None and not ext.startswith("."):
        ext = f".{ext}"
    if source is not None:
        from anima_caption.datasets._commands import scan_source

        scan = scan_source(source, triggers=triggers, lookup=lookup)
    else:
        scan = scan_dataset(
            root, triggers=triggers, lookup=lookup, caption_extension=ext, progress=progress
        )
    table = presets()
    preset: dict[str, Any] = table["presets"][options.preset]
    guidance: dict[str, Any] = table["guidance"]
    captions = scan.training_captions()
    has_nl = any(info.sentences for info in captions)
    has_directions = policy.directional or any(info.directions for info in captions)

    shuffle = options.shuffle
    if shuffle is None:
        shuffle = _auto(preset["shuffle"], not has_nl and trainer != "diffusion-pipe")
    flip = options.flip
    if flip is None:
        flip = _auto(preset["flip"], not has_directions)
    tag_dropout = options.tag_dropout
    if tag_dropout is None:
        tag_dropout = float(preset["tag_dropout"])
    mutating = shuffle or tag_dropout > 0 or options.token_warmup_step > 0
    cache_te = options.cache_text_encoder
    if cache_te is None:
        cache_te = _auto(preset["cache_text_encoder"], not mutating)

    rank = options.rank or int(preset["rank"])
    default_repeats = options.repeats or int(preset["repeats"])
    name = options.name or (triggers[0] if triggers else root_abs.name) or "anima_lora"
    name = re.sub(r"[^\w.-]+", "_", name)
    separator = options.keep_tokens_separator
    layout = options.layout
    if layout == "subsets" and (
        options.json_sidecars or (separator and mutating) or source is not None
    ):
        # Captions rewritten for the trainer (JSON sidecars, the keep-tokens separator) need
        # a folder of their own in --out; the images are hard-linked beside them.
        layout = "hardlink"
    subsets = _subsets(scan, layout, options.repeats, out_abs, default_repeats, name)
    keep_tokens = min((s.keep_tokens for s in subsets if s.images), default=0)
    plan = TrainingPlan(
        trainer=trainer,
        preset=options.preset,
        name=name,
        dataset=root_abs,
        out=out_abs,
        triggers=triggers,
        rank=rank,
        alpha=float(rank),
        lr=options.lr if options.lr is not None else float(preset["lr"]),
        epochs=options.epochs or int(preset["epochs"]),
        batch_size=options.batch_size or int(preset["batch_size"]),
        grad_accum=options.grad_accum or int(preset["grad_accum"]),
        resolution=options.resolution or int(preset["resolution"]),
        shuffle=shuffle,
        flip=flip,
        tag_dropout=tag_dropout,
        cache_text_encoder=cache_te,
        token_warmup_step=options.token_warmup_step,
        keep_tokens=keep_tokens,
        keep_tokens_separator=separator,
        caption_extension=scan.caption_extension,
        layout=layout,
        json_sidecars=options.json_sidecars,
        save_every=int(preset["save_every"]),
        sample_every=int(preset["sample_every"]),
        subsets=tuple(subsets),
        models=find_models(options.model_dirs),
        sample_prompts=tuple(_sample_prompts(scan, triggers, guidance["sample_prefix"])),
        sample_negative=str(guidance["sample_negative"]),
        sample_cfg=float(guidance["sample_cfg"]),
        sample_steps=int(guidance["sample_steps"]),
        images=len(scan.images),
        captions=len(captions),
        policy_directional=policy.directional,
    )
    plan = plan.model_copy(update={"findings": tuple(cross_check(plan, scan, options))})
    plan._scan = scan
    return plan


def scan_of(plan: TrainingPlan) -> DatasetScan:
    """The dataset scan a plan was made from (scanned again for a rebuilt plan)."""
    scan = plan._scan
    if isinstance(scan, DatasetScan):
        return scan
    scan = scan_dataset(
        plan.dataset, triggers=plan.triggers, caption_extension=plan.caption_extension
    )
    plan._scan = scan
    return scan


def _auto(value: Any, automatic: bool) -> bool:
    return automatic if value == "auto" else bool(value)


def _subsets(
    scan: DatasetScan,
    layout: str,
    repeats_option: int | None,
    out: Path,
    default_repeats: int,
    name: str,
) -> list[Subset]:
    out_subsets = []
    used: set[str] = set()
    for folder in scan.folders:
        repeats = repeats_option or folder.repeats_from_name or default_repeats
        label = name if folder.path.resolve() == scan.root.resolve() else folder.label
        label = re.sub(r"[^\w.-]+", "_", label)
        unique, n = label, 2
        while unique in used:
            unique, n = f"{label}_{n}", n + 1
        used.add(unique)
        if layout == "subsets":
            image_dir = folder.path.resolve()
        else:
            image_dir = out / "dataset" / f"{repeats}_{unique}"
        out_subsets.append(
            Subset(
                source=folder.path.resolve(),
                image_dir=image_dir,
                label=unique,
                num_repeats=repeats,
                images=len(folder.images),
                keep_tokens=_folder_keep_tokens(scan, folder),
            )
        )
    return out_subsets


def _folder_keep_tokens(scan: DatasetScan, folder: Folder) -> int:
    pieces = [
        info.prefix_pieces
        for image in folder.images
        if (info := scan.caption_of(image)) is not None and info.error is None
    ]
    return min(pieces, default=0)


# -- model files ---------------------------------------------------------------------------

_PLACEHOLDERS = {
    "transformer": "/path/to/models/anima-base-v1.0.safetensors",
    "qwen3_file": "/path/to/models/qwen_3_06b_base.safetensors",
    "qwen3_dir": "/path/to/models/Qwen3-0.6B-Base",
    "vae": "/path/to/models/qwen_image_vae.safetensors",
    "t5_tokenizer": "/path/to/models/t5_tokenizer",
}


def find_models(model_dirs: tuple[Path, ...] | list[Path]) -> ModelPaths:
    """Look for the Anima DiT, Qwen3-0.6B, the Qwen-Image VAE and the T5 tokenizer under
    ``model_dirs`` (three levels deep); placeholders for what is not found."""
    found: dict[str, str] = {}
    for base in model_dirs:
        base = Path(base)
        if not base.is_dir():
            raise UsageError(f"--model-dir {base}: no such folder")
        for path in sorted(_walk(base, 3)):
            low = path.name.lower()
            if path.is_dir():
                if (path / "spiece.model").is_file():
                    found.setdefault("t5_tokenizer", str(path.resolve()))
                elif re.search(r"qwen_?3.?0.?6b", low) and (path / "config.json").is_file():
                    found.setdefault("qwen3_dir", str(path.resolve()))
                continue
            if not low.endswith(".safetensors"):
                continue
            if "vae" in low:
                found.setdefault("vae", str(path.resolve()))
            elif re.search(r"qwen_?3.?0.?6b", low):
                found.setdefault("qwen3_file", str(path.resolve()))
            elif low.startswith("anima") and "lora" not in low:
                found.setdefault("transformer", str(path.resolve()))
    values = {key: found.get(key, placeholder) for key, placeholder in _PLACEHOLDERS.items()}
    missing = tuple(key for key in _PLACEHOLDERS if key not in found)
    return ModelPaths(**values, missing=missing)


def _walk(base: Path, depth: int) -> list[Path]:
    out: list[Path] = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return out
    for entry in entries:
        out.append(entry)
        if entry.is_dir() and depth > 1 and not entry.name.startswith("."):
            out.extend(_walk(entry, depth - 1))
    return out


# -- sample prompts -------------------------------------------------------------------------


def _sample_prompts(scan: DatasetScan, triggers: tuple[str, ...], prefix: str) -> list[str]:
    """Anima-prefixed prompts: the subject alone, then with the tags most captions share."""
    captions = scan.training_captions()
    if not captions:
        return [prefix]
    half = len(captions) / 2
    counts: Counter[tuple[str, str]] = Counter()
    for info in captions:
        for key in dict.fromkeys(zip(info.tags, info.sections, strict=True)):
            counts[key] += 1
    fixed = {t.strip() for t in prefix.split(",")}
    subject = [
        tag
        for (tag, section), n in counts.most_common()
        if n >= half
        and section in ("count", "character", "series", "artist")
        and tag not in fixed
        and tag not in triggers
    ]
    subject = [*_sorted_count_first(subject), *triggers]
    shared = [
        tag
        for (tag, section), n in counts.most_common()
        if n >= half and section == "general" and tag not in triggers
    ][:6]
    first = ", ".join([prefix, *subject])
    prompts = [first]
    if shared:
        prompts.append(", ".join([first, *shared]))
    return prompts


def _sorted_count_first(tags: list[str]) -> list[str]:
    return sorted(tags, key=lambda t: 0 if re.match(r"\d", t) else 1)
