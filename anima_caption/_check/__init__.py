"""``anima-caption check``: lint rules with codes, fixes, dataset checks, outputs.

Pipeline: files → :class:`CaptionContext` (decoded text + parsed model) → rules
(:mod:`._rules_caption`, :mod:`._rules_dataset`) → :class:`Diagnostic` objects →
fixes (:mod:`._fix`) → output formats (:mod:`._output`).
"""

from __future__ import annotations

from anima_caption._check._config import CheckConfig
from anima_caption._check._diagnostic import Applicability, Diagnostic, Edit, Fix, Severity
from anima_caption._check._registry import Rule, all_rules, get_rule

__all__ = [
    "Applicability",
    "CheckConfig",
    "Diagnostic",
    "Edit",
    "Fix",
    "Rule",
    "Severity",
    "all_rules",
    "get_rule",
]
