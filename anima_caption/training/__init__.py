"""Training adapter: trainer configs generated from a caption dataset, cross-checked first.

    >>> from anima_caption.training import TrainOptions, plan_training, write_plan
    >>> plan = plan_training("kohya", "examples/kanachan", "train-out",
    ...                      TrainOptions(triggers=("kanachan",), preset="character"))
    >>> [f.name for f in plan.findings]          # doctest: +SKIP
    ['SF006/year-tag', 'TC013/model-path-missing']
    >>> write_plan(plan)                          # doctest: +SKIP

Targets: kohya sd-scripts (``anima_train_network.py``: dataset TOML, arguments TOML, sample
prompts, launch script), AnimaLoraToolkit (YAML, optional JSON caption sidecars) and
diffusion-pipe (dataset and main TOML). The source captions are never modified; each
trainer's accepted keys are kept as schema tables (:func:`validate`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Imported on first use: ``anima-caption`` imports ``anima_caption.training.cli`` on every
# start (and ``check`` runs in pre-commit hooks), so the package itself stays light.
_LAZY = {
    "CHECKS": "_checks",
    "Finding": "_models",
    "ModelPaths": "_models",
    "Subset": "_models",
    "Trainer": "_models",
    "TrainingPlan": "_models",
    "TrainOptions": "_models",
    "OutputFile": "_output",
    "plan_files": "_output",
    "write_plan": "_output",
    "find_models": "_plan",
    "plan_training": "_plan",
    "presets": "_plan",
    "SCHEMAS": "_schema",
    "SchemaProblem": "_schema",
    "load_schema": "_schema",
    "validate": "_schema",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'anima_caption.training' has no attribute {name!r}")
    value = getattr(import_module(f"anima_caption.training.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
