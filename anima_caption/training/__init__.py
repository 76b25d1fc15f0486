"""Training adapter: trainer configs generated from a caption dataset, cross-checked first.

    >>> from anima_caption.training import TrainOptions, plan_training, write_plan
    >>> plan = plan_training("kohya", "examples/kanachan", "train-out",
    ...                      TrainOptions(triggers=("kanachan",), preset="character"))
    >>> [f.name for f in plan.findings]          # doctest: +SKIP
    ['TC010/year-tag', 'TC013/model-path-missing']
    >>> write_plan(plan)                          # doctest: +SKIP

Targets: kohya sd-scripts (``anima_train_network.py``: dataset TOML, arguments TOML, sample
prompts, launch script), AnimaLoraToolkit (YAML, optional JSON caption sidecars) and
diffusion-pipe (dataset and main TOML). The source captions are never modified; each
trainer's accepted keys are kept as schema tables (:func:`validate`).
"""

from __future__ import annotations

from anima_caption.training._checks import CHECKS
from anima_caption.training._models import (
    Finding,
    ModelPaths,
    Subset,
    Trainer,
    TrainingPlan,
    TrainOptions,
)
from anima_caption.training._output import OutputFile, plan_files, write_plan
from anima_caption.training._plan import find_models, plan_training, presets
from anima_caption.training._schema import SCHEMAS, SchemaProblem, load_schema, validate

__all__ = [
    "CHECKS",
    "SCHEMAS",
    "Finding",
    "ModelPaths",
    "OutputFile",
    "SchemaProblem",
    "Subset",
    "TrainOptions",
    "Trainer",
    "TrainingPlan",
    "find_models",
    "load_schema",
    "plan_files",
    "plan_training",
    "presets",
    "validate",
    "write_plan",
]
