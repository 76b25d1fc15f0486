"""The policy engine: core / structural / variable tags per trigger (SPEC §4).

Pipeline: policy YAML → :class:`Policy` (:mod:`._model`, loaded by :mod:`._load`) +
the default taxonomy of tag groups (:mod:`._taxonomy`, data in ``tag_db/groups/``) →
:func:`classify` per caption → dataset report (:mod:`._report`), removal of absorbed tags
(:mod:`._apply`) and directional phrases (:mod:`._direction`). ``check`` runs the dataset
diagnostics as ``PL`` rules when a policy is configured.
"""

from __future__ import annotations

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
