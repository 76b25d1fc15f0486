"""The policy engine: core / structural / variable tags per trigger (docs/policy.md).

Pipeline: policy YAML → :class:`Policy` (:mod:`._model`, loaded by :mod:`._load`) +
the default taxonomy of tag groups (:mod:`._taxonomy`, data in ``tag_db/groups/``) →
:func:`classify` per caption → dataset report (:mod:`._report`), removal of absorbed tags
(:mod:`._apply`) and directional phrases (:mod:`._direction`). ``check`` runs the dataset
diagnostics as ``PL`` rules when a policy is configured.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anima_caption._policy._classify import (
        Classification,
        ClassifiedTag,
        caption_trigger,
        classify,
    )
    from anima_caption._policy._load import load_policy
    from anima_caption._policy._model import (
        DirectionalAttribute,
        Policy,
        Subset,
        TriggerPolicy,
    )

__all__ = [
    "Classification",
    "ClassifiedTag",
    "DirectionalAttribute",
    "Policy",
    "Subset",
    "TriggerPolicy",
    "caption_trigger",
    "classify",
    "load_policy",
]

# Imported on first use: the CLI imports ``anima_caption._policy.cli`` on every start, which
# must not pull in pydantic or the caption model.
_LAZY = {
    "Classification": "_classify",
    "ClassifiedTag": "_classify",
    "caption_trigger": "_classify",
    "classify": "_classify",
    "load_policy": "_load",
    "DirectionalAttribute": "_model",
    "Policy": "_model",
    "Subset": "_model",
    "TriggerPolicy": "_model",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'anima_caption._policy' has no attribute {name!r}")
    value = getattr(import_module(f"anima_caption._policy.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
