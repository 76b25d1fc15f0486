"""The training plan: user options in, every resolved setting and cross-check out (pydantic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

Trainer = Literal["kohya", "animalora", "diffusion-pipe"]
PresetName = Literal["character", "style", "concept"]
Layout = Literal["subsets", "hardlink", "symlink", "copy"]
Severity = Literal["error", "warning", "info"]

TRAINERS: tuple[Trainer, ...] = ("kohya", "animalora", "diffusion-pipe")
LAYOUTS: tuple[Layout, ...] = ("subsets", "hardlink", "symlink", "copy")


class TrainOptions(BaseModel):
    """What the user asked for. ``None`` means: take it from the preset / the captions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: PresetName = "character"
    triggers: tuple[str, ...] = ()
    name: str | None = Field(None, description="output name of the LoRA (default: trigger)")
    repeats: int | None = Field(None, ge=1)
    epochs: int | None = Field(None, ge=1)
    rank: int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0)
    batch_size: int | None = Field(None, ge=1)
    grad_accum: int | None = Field(None, ge=1)
    resolution: int | None = Field(None, ge=256)
    shuffle: bool | None = None
    flip: bool | None = None
    tag_dropout: float | None = Field(None, ge=0, le=1)
    cache_text_encoder: bool | None = None
    token_warmup_step: int = Field(0, ge=0)
    keep_tokens_separator: str | None = None
    caption_extension: str | None = None
    layout: Layout = "subsets"
    json_sidecars: bool = False
    model_dirs: tuple[Path, ...] = ()
    policy: Path | None = None


class Finding(BaseModel):
    """One cross-check result: what is wrong, what it costs, where."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    slug: str
    severity: Severity
    message: str
    """What was found and its consequence for the training run."""
    path: Path | None = None
    """The first file concerned (or the dataset folder)."""
    paths: tuple[Path, ...] = ()
    """Every file concerned."""

    @property
    def name(self) -> str:
        """``CODE/slug``, e.g. ``TC001/nl-shuffle``."""
        return f"{self.code}/{self.slug}"

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path is not None else ""
        return f"{where}{self.severity} {self.name} {self.message}"


class Subset(BaseModel):
    """One folder of images as a trainer sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Path
    """The original folder in the dataset."""
    image_dir: Path
    """The folder the trainer reads (the source, or the built ``N_name`` folder)."""
    label: str
    num_repeats: int
    images: int
    keep_tokens: int
    """Comma pieces of the fixed prefix shared by every caption in the folder."""


class ModelPaths(BaseModel):
    """Model files the configs point at; ``missing`` lists those not found (placeholders)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transformer: str
    qwen3_file: str
    qwen3_dir: str
    vae: str
    t5_tokenizer: str
    missing: tuple[str, ...] = ()


class TrainingPlan(BaseModel):
    """Everything a generator needs, resolved, plus the cross-check findings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trainer: Trainer
    preset: PresetName
    name: str
    dataset: Path
    out: Path
    triggers: tuple[str, ...]
    rank: int
    alpha: float
    lr: float
    epochs: int
    batch_size: int
    grad_accum: int
    resolution: int
    shuffle: bool
    flip: bool
    tag_dropout: float
    cache_text_encoder: bool
    token_warmup_step: int
    keep_tokens: int
    keep_tokens_separator: str | None
    caption_extension: str
    layout: Layout
    json_sidecars: bool
    save_every: int
    sample_every: int
    subsets: tuple[Subset, ...]
    models: ModelPaths
    sample_prompts: tuple[str, ...]
    sample_negative: str
    sample_cfg: float
    sample_steps: int
    images: int
    captions: int
    policy_directional: bool = False
    """The policy declares an attribute with a side (flipping would swap it)."""
    findings: tuple[Finding, ...] = ()

    _scan: Any = PrivateAttr(default=None)
    """The dataset scan the plan was made from (not data: never serialised)."""

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings that stop generation unless forced."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def caption_mutating(self) -> bool:
        """True when shuffle, tag dropout or token warm-up touch the caption text (sd-scripts
        only then splits on ``keep_tokens`` / ``keep_tokens_separator``)."""
        return self.shuffle or self.tag_dropout > 0 or self.token_warmup_step > 0
