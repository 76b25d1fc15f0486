"""Per-trainer schema tables (``schemas/*.yaml``) and a validator for generated configs.

Each trainer's accepted keys live as data beside this module, written from the reference
notes; the generators' output is parsed back (``tomllib`` / ``yaml.safe_load``) and checked
against them in the tests, and :func:`validate` is public so users can check a config they
edited by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

#: The schema names and the files they describe.
SCHEMAS = {
    "kohya-dataset": "kohya_dataset.yaml",
    "kohya-args": "kohya_args.yaml",
    "animalora": "animalora.yaml",
    "diffusion-pipe-dataset": "diffusion_pipe_dataset.yaml",
    "diffusion-pipe-main": "diffusion_pipe_main.yaml",
}


@dataclass(frozen=True)
class SchemaProblem:
    """One way a config does not fit its trainer's schema."""

    where: str
    """Dotted location such as ``datasets[0].subsets[1].keep_tokens``."""
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema table ``name`` (one of :data:`SCHEMAS`) as loaded from its YAML file."""
    import yaml

    try:
        file = SCHEMAS[name]
    except KeyError:
        raise ValueError(f"no schema {name!r}; known: {', '.join(SCHEMAS)}") from None
    data: dict[str, Any] = yaml.safe_load((_SCHEMA_DIR / file).read_text(encoding="utf-8"))
    return data


def schema_keys(name: str, table: str = "") -> dict[str, dict[str, Any]]:
    """Every key spec allowed in ``table`` (dotted path of tables, ``""`` for the root)."""
    schema = load_schema(name)
    node: dict[str, Any] = schema["root"]
    for part in [p for p in table.split(".") if p]:
        node = node["tables"][part]
    return _node_keys(schema, node)


def _node_keys(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    keys: dict[str, dict[str, Any]] = {}
    for group in node.get("groups", ()):
        keys.update(schema["groups"][group])
    keys.update(node.get("keys", {}))
    return keys


def validate(name: str, config: dict[str, Any]) -> list[SchemaProblem]:
    """Check a parsed config against schema ``name``; return every problem (empty: valid).

    Unknown keys, missing required keys, wrong types, values outside ``choices`` / ``min`` /
    ``max`` and ``multiple_of`` violations are reported.
    """
    schema = load_schema(name)
    problems: list[SchemaProblem] = []
    _check_table(schema, schema["root"], config, "", problems)
    return problems


def _check_table(
    schema: dict[str, Any],
    node: dict[str, Any],
    table: dict[str, Any],
    where: str,
    problems: list[SchemaProblem],
) -> None:
    keys = _node_keys(schema, node)
    tables: dict[str, dict[str, Any]] = node.get("tables", {})
    problems.extend(
        SchemaProblem(where or "(top level)", f"missing key {required!r}")
        for required in node.get("required", ())
        if required not in table
    )
    for key, value in table.items():
        here = f"{where}.{key}" if where else key
        if key in tables:
            child = tables[key]
            if child.get("array"):
                if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                    problems.append(SchemaProblem(here, "must be an array of tables"))
                    continue
                for i, item in enumerate(value):
                    _check_table(schema, child, item, f"{here}[{i}]", problems)
            elif isinstance(value, dict):
                _check_table(schema, child, value, here, problems)
            else:
                problems.append(SchemaProblem(here, "must be a table"))
        elif key in keys:
            problems.extend(SchemaProblem(here, m) for m in _check_value(keys[key], value))
        else:
            problems.append(SchemaProblem(here, "unknown key (the trainer rejects or ignores it)"))


_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "table": (dict,),
}


def _type_ok(kind: str, value: Any) -> bool:
    for alternative in kind.split("|"):
        if alternative.startswith("list[") and alternative.endswith("]"):
            inner = alternative[5:-1]
            if isinstance(value, list) and all(_type_ok(inner, v) for v in value):
                return True
        else:
            types = _SCALARS[alternative]
            if isinstance(value, bool) and bool not in types:
                continue
            if isinstance(value, types):
                return True
    return False


def _check_value(spec: dict[str, Any], value: Any) -> list[str]:
    kind = str(spec.get("type", "str"))
    if not _type_ok(kind, value):
        return [f"expected {kind}, got {type(value).__name__} {value!r}"]
    problems = []
    choices = spec.get("choices")
    if choices is not None and value not in choices:
        problems.append(f"{value!r} is not one of {', '.join(map(str, choices))}")
    numbers = [value] if isinstance(value, int | float) and not isinstance(value, bool) else []
    for number in numbers:
        if "min" in spec and number < spec["min"]:
            problems.append(f"{number} is below the minimum {spec['min']}")
        if "max" in spec and number > spec["max"]:
            problems.append(f"{number} is above the maximum {spec['max']}")
        multiple = spec.get("multiple_of")
        if multiple and number % multiple:
            problems.append(f"{number} is not a multiple of {multiple}")
    return problems
