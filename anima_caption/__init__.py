"""anima-caption: parse, validate, fix and convert captions for training Anima LoRAs.

    >>> import anima_caption
    >>> caption = anima_caption.parse("masterpiece, safe, 1girl, Side_Ponytail")
    >>> [t.text for t in caption.tags]
    ['masterpiece', 'safe', '1girl', 'side ponytail']
    >>> anima_caption.format("1girl, Side_Ponytail, safe")
    'safe, 1girl, side ponytail'

Heavy modules (pydantic models, the parser) are imported on first use, so
``import anima_caption`` stays cheap for pre-commit hooks.
"""

# Only public names here (issue 15 item 14): the helpers this module needs are imported
# under private names, and no ``from __future__ import annotations`` (it would leave an
# ``annotations`` attribute behind).
import typing as _typing
from importlib import import_module as _import_module

from anima_caption._version import __version__

if _typing.TYPE_CHECKING:
    from anima_caption._check import CheckConfig, Diagnostic, Fix
    from anima_caption._check._api import Linter, fix, lint
    from anima_caption._convert import ConversionResult, Converter, convert
    from anima_caption._errors import (
        AnimaCaptionError,
        CaptionDecodeError,
        CaptionSyntaxError,
        UsageError,
    )
    from anima_caption._format import format
    from anima_caption._io import read_caption_file
    from anima_caption._kinds import Category, Kind, Section
    from anima_caption._lookup import TagLookup, VocabularyLookup
    from anima_caption._model import (
        Caption,
        ErrorItem,
        Group,
        Header,
        Item,
        Marker,
        Sentence,
        Tag,
        Wildcard,
    )
    from anima_caption._normalize import normalize_tag
    from anima_caption._parse import parse
    from anima_caption._policy import Classification, Policy, classify, load_policy
    from anima_caption._tagdb import (
        Redundancy,
        Suggestion,
        SuggestionReason,
        TagDB,
        TagInfo,
        TagStatus,
    )

__all__ = [
    "AnimaCaptionError",
    "Caption",
    "CaptionDecodeError",
    "CaptionSyntaxError",
    "Category",
    "CheckConfig",
    "Classification",
    "ConversionResult",
    "Converter",
    "Diagnostic",
    "ErrorItem",
    "Fix",
    "Group",
    "Header",
    "Item",
    "Kind",
    "Linter",
    "Marker",
    "Policy",
    "Redundancy",
    "Section",
    "Sentence",
    "Suggestion",
    "SuggestionReason",
    "Tag",
    "TagDB",
    "TagInfo",
    "TagLookup",
    "TagStatus",
    "UsageError",
    "VocabularyLookup",
    "Wildcard",
    "__version__",
    "classify",
    "convert",
    "fix",
    "format",
    "lint",
    "load_policy",
    "normalize_tag",
    "parse",
    "read_caption_file",
]

_LAZY = {
    "ConversionResult": "_convert",
    "Converter": "_convert",
    "convert": "_convert",
    "CheckConfig": "_check",
    "Diagnostic": "_check",
    "Fix": "_check",
    "fix": "_check._api",
    "Linter": "_check._api",
    "lint": "_check._api",
    "AnimaCaptionError": "_errors",
    "CaptionDecodeError": "_errors",
    "CaptionSyntaxError": "_errors",
    "UsageError": "_errors",
    "format": "_format",
    "read_caption_file": "_io",
    "Category": "_kinds",
    "Kind": "_kinds",
    "Section": "_kinds",
    "TagLookup": "_lookup",
    "VocabularyLookup": "_lookup",
    "Caption": "_model",
    "ErrorItem": "_model",
    "Group": "_model",
    "Header": "_model",
    "Item": "_model",
    "Marker": "_model",
    "Sentence": "_model",
    "Tag": "_model",
    "Wildcard": "_model",
    "normalize_tag": "_normalize",
    "parse": "_parse",
    "Classification": "_policy",
    "Policy": "_policy",
    "classify": "_policy",
    "load_policy": "_policy",
    "TagDB": "_tagdb",
    "TagInfo": "_tagdb",
    "TagStatus": "_tagdb",
    "Suggestion": "_tagdb",
    "SuggestionReason": "_tagdb",
    "Redundancy": "_tagdb",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'anima_caption' has no attribute {name!r}")
    value = getattr(_import_module(f"anima_caption.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
