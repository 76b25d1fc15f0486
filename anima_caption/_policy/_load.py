"""Loading a policy: a standalone policy YAML or the ``policy:`` section of a config file.

Every problem is a :class:`~anima_caption._errors.UsageError` (exit 2) naming the file and
line: malformed YAML, unknown keys (``extra="forbid"``), wrong types, group names that name
no group, a ``policy:`` path that does not exist.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from anima_caption._errors import UsageError
from anima_caption._policy._model import Policy

_KeyPath = tuple[str | int, ...]


def load_policy(path: Path | str) -> Policy:
    """Read and validate a policy.

    ``path`` is a standalone policy file (top-level ``triggers:`` mapping) or a check
    config (``anima-caption.yaml``, ``.anima-caption.yaml``, ``pyproject.toml`` with
    ``[tool.anima-caption]``) whose ``policy:`` key holds the policy inline or the path of
    a policy file (relative to the config). Errors raise :class:`UsageError` with
    ``file:line``.
    """
    from anima_caption._check._configfile import CONFIG_NAMES, _read_toml, _read_yaml

    path = Path(path)
    text = _read_text(path)
    if path.suffix.lower() == ".toml":
        data, lines = _read_toml(path, text)
    else:
        data, lines = _read_yaml(path, text)
    is_config = path.name in CONFIG_NAMES or path.suffix.lower() == ".toml"
    if is_config and not (isinstance(data, dict) and "policy" in data):
        raise UsageError(f"{_display(path)}: no 'policy' section in this config file")
    if isinstance(data, dict) and "policy" in data:
        section = data["policy"]
        if isinstance(section, str):
            target = Path(section)
            if not target.is_absolute():
                target = path.parent / target
            if not target.is_file():
                line = lines.get(("policy",), 1)
                raise UsageError(f"{_display(path)}:{line}: policy file '{section}' not found")
            return load_policy(target)
        prefix: _KeyPath = ("policy",)
        return policy_from_data(section, path, lines, prefix)
    return policy_from_data(data, path, lines, ())


def policy_from_data(
    data: Any, path: Path, lines: Mapping[_KeyPath, int], prefix: _KeyPath = ()
) -> Policy:
    """Validate already-read policy data; ``lines`` maps key paths (with ``prefix``) to
    1-based lines of ``path`` for error messages."""
    if not isinstance(data, dict):
        line = _line_of(lines, prefix) or 1
        raise UsageError(f"{_display(path)}:{line}: a policy must be a mapping with 'triggers'")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as error:
        raise UsageError(validation_message(path, lines, error, prefix)) from None
    problems = policy.problems()
    if problems:
        key_path, message = problems[0]
        full = (*prefix, *key_path)
        line = _line_of(lines, full) or 1
        raise UsageError(f"{_display(path)}:{line}: {_dotted(full)}: {message}")
    return policy


def validation_message(
    path: Path, lines: Mapping[_KeyPath, int], error: ValidationError, prefix: _KeyPath = ()
) -> str:
    """One line naming the file, the line and the first problem of a validation error."""
    import difflib

    problems = error.errors()
    first = problems[0]
    loc = (*prefix, *(part for part in first["loc"] if part != "[key]"))
    line = _line_of(lines, loc) or 1
    if first["type"] == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        known = _known_keys(tuple(first["loc"][:-1]))
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        message = f"unknown key '{_dotted(loc)}'{hint}"
    else:
        reason = first["msg"]
        reason = reason[:1].lower() + reason[1:]
        got = first.get("input")
        shown = "" if isinstance(got, (dict, list)) else f" (got {_short(got)})"
        message = f"invalid value for '{_dotted(loc)}': {reason}{shown}"
    more = len(problems) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{_display(path)}:{line}: {message}{suffix}"


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """Key names valid at ``loc`` (for 'did you mean' hints)."""
    from anima_caption._policy._model import DirectionalAttribute, Subset, TriggerPolicy

    model: type[Any] = Policy
    names = [str(p) for p in loc if not isinstance(p, int)]
    if len(names) >= 2 and names[0] == "triggers":
        model = TriggerPolicy
    if names[:1] == ["subsets"]:
        model = Subset if len(names) == 1 else TriggerPolicy
    if "directional" in names:
        model = DirectionalAttribute
    return [field.alias or name for name, field in model.model_fields.items()]


def _read_text(path: Path) -> str:
    from anima_caption._check._configfile import read_config_text

    return read_config_text(path, "policy")


def _line_of(lines: Mapping[_KeyPath, int], key_path: _KeyPath) -> int | None:
    for end in range(len(key_path), -1, -1):
        line = lines.get(tuple(key_path[:end]))
        if line is not None:
            return line
    return None


def _dotted(loc: _KeyPath) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _display(path: Path) -> str:
    try:
        return Path(os.path.abspath(path)).relative_to(Path.cwd()).as_posix()  # noqa: PTH100
    except ValueError:
        return str(path)


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file (``docs/schema/policy.schema.json``)."""
    schema = Policy.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/anima-caption/anima-caption/blob/main/docs/schema/"
        "policy.schema.json",
        **schema,
    }


if __name__ == "__main__":  # pragma: no cover - regenerates docs/schema/policy.schema.json
    import json
    import sys

    json.dump(policy_json_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
