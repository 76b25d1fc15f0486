"""The ``check`` configuration model (pydantic, ``extra="forbid"``).

Loaded from ``[tool.anima-caption]`` in ``pyproject.toml`` or from ``anima-caption.yaml``
(see :mod:`._configfile`); every key has a default, so an empty file is valid.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from anima_caption._policy._model import Policy

SeverityName = Literal["error", "warning", "info", "off"]
#: A file extension: a dot and a file type (``.txt``, ``.caption``, ``.tags.txt``). An empty
#: one would make every file a caption (``review apply`` would write ``.git/config``).
_EXTENSION = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)*")

DEFAULT_PHRASES: dict[str, str] = {
    "bound hair": "the base model reads 'bound' as a person tied up with rope; "
    "say 'side ponytail' / 'ponytail' instead",
}


class CheckConfig(BaseModel):
    """Settings for ``anima-caption check`` (and the rules it runs)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    select: list[str] = Field(
        default_factory=lambda: ["ALL"],
        description="Rules to run: codes (TG005), slugs (unknown-tag), families (TG) or ALL.",
    )
    ignore: list[str] = Field(default_factory=list, description="Rules not to run.")
    severity: dict[str, SeverityName] = Field(
        default_factory=dict,
        description="Severity per code, slug or family, e.g. {TG005: error, OR: off}.",
    )
    per_file_ignores: dict[str, list[str]] = Field(
        default_factory=dict,
        alias="per-file-ignores",
        description="Glob (relative to the config file) → rules ignored in matching files.",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Globs of files and folders never checked."
    )
    triggers: list[str] = Field(
        default_factory=list, description="LoRA trigger words: known tags, character section."
    )
    require_trigger: bool = Field(
        default=True,
        alias="require-trigger",
        description="Report captions that lack every configured trigger word.",
    )
    known_tags: list[str] = Field(
        default_factory=list,
        alias="known-tags",
        description="Extra tags to treat as existing (private concepts, new Danbooru tags).",
    )
    phrases: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_PHRASES),
        description="Ambiguous phrases → why they are a problem (checked in tags and text).",
    )
    required_prefix: list[str] = Field(
        default_factory=list,
        alias="required-prefix",
        description="Tags every caption must start with, e.g. [masterpiece, best quality].",
    )
    max_tokens: int = Field(
        default=512, alias="max-tokens", ge=1, description="Token limit of the trainers (512)."
    )
    caption_extensions: list[str] = Field(
        default_factory=lambda: [".txt"],
        alias="caption-extensions",
        description="Caption file extensions.",
    )
    image_extensions: list[str] = Field(
        default_factory=lambda: [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".avif", ".jxl"],
        alias="image-extensions",
        description="Image extensions trainers pick up (kohya sd-scripts' list).",
    )
    policy: Policy | str | None = Field(
        default=None,
        description="The policy (core / structural / variable tags per trigger) inline, or "
        "the path of a policy file relative to this config; enables the PL rules.",
    )

    @classmethod
    def defaults(cls) -> CheckConfig:
        """The default settings (equal to ``CheckConfig()``), built without validating:
        validation would first build the model's validators, a cost a pre-commit run of
        ``check`` without a config file need not pay (a test proves the two equal)."""
        return cls.model_construct()

    @field_validator("caption_extensions", "image_extensions")
    @classmethod
    def _extensions(cls, value: list[str]) -> list[str]:
        for extension in value:
            if _EXTENSION.fullmatch(extension) is None:
                raise ValueError(
                    f"{extension!r} is not a file extension (a dot and a file type, "
                    "like '.txt')"
                )
        return value

    @model_validator(mode="after")
    def _policy_triggers(self) -> CheckConfig:
        """The policy's triggers are trigger words too."""
        if isinstance(self.policy, Policy):
            extra = [t for t in self.policy.trigger_names() if t not in self.triggers]
            if extra:
                object.__setattr__(self, "triggers", [*self.triggers, *extra])
        return self
