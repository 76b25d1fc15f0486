"""Finding, loading and applying ``check`` configuration files.

Sources, looked for in each directory from the start directory up to the filesystem root:

1. ``.anima-caption.yaml``
2. ``anima-caption.yaml``
3. ``pyproject.toml`` — only when it has a ``[tool.anima-caption]`` table; one without it is
   skipped and the search goes on upwards.

Within one directory the first match in that order wins: a dedicated file beats
``pyproject.toml`` (as ruff's ``.ruff.toml`` > ``ruff.toml`` > ``pyproject.toml``). Across
directories the **closest** config wins and nothing is merged; ``--config PATH`` replaces the
search. Globs in ``per-file-ignores`` and ``exclude`` are relative to the directory of the
config file (the current directory when no config was found).

Every error in a config file is a :class:`~anima_caption._errors.UsageError` (exit 2) with one
line naming the file and the line: unknown settings, wrong types, malformed YAML or TOML, and
unknown rule selectors.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from anima_caption._check._config import CheckConfig
from anima_caption._check._diagnostic import Severity
from anima_caption._errors import UsageError

if TYPE_CHECKING:
    from anima_caption._check._registry import Rule

__all__ = [
    "CONFIG_NAMES",
    "TOOL_TABLE",
    "LoadedConfig",
    "RuleSelection",
    "config_for",
    "config_json_schema",
    "find_config",
    "ignored_for",
    "is_excluded",
    "load_config",
]

#: Dedicated config file names, in order of precedence within one directory.
CONFIG_NAMES: tuple[str, ...] = (".anima-caption.yaml", "anima-caption.yaml")
#: The ``pyproject.toml`` table holding the settings.
TOOL_TABLE = "anima-caption"

_KeyPath = tuple[str | int, ...]


# -- loaded configuration ------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and where it came from.

    ``path`` is None for the built-in defaults. ``root`` is the directory that globs in
    ``per-file-ignores`` and ``exclude`` are relative to. ``lines`` maps a key path inside the
    settings (``("select", 0)``) to its 1-based line in the file, for error messages.
    """

    config: CheckConfig
    path: Path | None
    root: Path
    lines: Mapping[_KeyPath, int] = field(default_factory=dict, repr=False, compare=False)

    def where(self, key_path: _KeyPath = ()) -> str:
        """``file:line`` of a setting (``file`` alone when the line is unknown); '' for defaults."""
        if self.path is None:
            return ""
        line = _line_of(self.lines, key_path)
        return f"{_display(self.path)}:{line}" if line else _display(self.path)

    @cached_property
    def _exclude_globs(self) -> _GlobSet:
        return _GlobSet(_Glob(p) for p in self.config.exclude)

    @cached_property
    def _ignore_globs(self) -> _GlobSet:
        return _GlobSet(_Glob(p) for p in self.config.per_file_ignores)

    @cached_property
    def _ignore_cache(self) -> dict[str, frozenset[str]]:
        return {}

    @cached_property
    def _root_prefix(self) -> str:
        root = os.path.abspath(self.root)  # noqa: PTH100 - normalise without resolving links
        return root if root.endswith(os.sep) else root + os.sep


def find_config(start: Path) -> Path | None:
    """The closest config file at or above ``start`` (a directory or a file), or None.

    A ``pyproject.toml`` counts only when it has a ``[tool.anima-caption]`` table.
    """
    here = Path(os.path.abspath(start))  # noqa: PTH100 - normalise without resolving links
    if not here.is_dir():
        here = here.parent
    for directory in (here, *here.parents):
        for name in CONFIG_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


#: Config and policy files larger than this are refused unread: a config is a few lines,
#: and one found above an untrusted dataset must not make ``check`` read gigabytes.
MAX_CONFIG_BYTES = 1 << 20
#: YAML nesting deeper than this is refused (PyYAML composes recursively).
MAX_YAML_DEPTH = 64


def read_config_text(path: Path, what: str = "config") -> str:
    """The text of a config or policy file (UTF-8, BOM allowed), at most
    :data:`MAX_CONFIG_BYTES`; every problem is a one-line :class:`UsageError`."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise UsageError(
                f"{_display(path)}: {what} file is over {MAX_CONFIG_BYTES:,} bytes; refused"
            )
        return data.decode("utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{_display(path)}: {what} file not found") from None
    except IsADirectoryError:
        raise UsageError(f"{_display(path)}: {what} path is a directory") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{_display(path)}: {what} file is not UTF-8 ({error.reason})") from None
    except OSError as error:
        raise UsageError(
            f"{_display(path)}: cannot read {what} file ({error.strerror or error})"
        ) from None


def load_config(path: Path) -> LoadedConfig:
    """Read and validate one config file (YAML, or TOML with ``[tool.anima-caption]``).

    Raises :class:`UsageError` naming the file and line on any problem.
    """
    path = Path(path)
    text = read_config_text(path)

    if path.suffix.lower() == ".toml":
        data, lines = _read_toml(path, text)
    else:
        data, lines = _read_yaml(path, text)
    root = Path(os.path.abspath(path)).parent  # noqa: PTH100
    try:
        config = CheckConfig.model_validate(data)
    except ValidationError as error:
        raise UsageError(_validation_message(path, lines, error)) from None
    config = _resolve_policy(config, path, root, lines)
    return LoadedConfig(config=config, path=path, root=root, lines=lines)


def _resolve_policy(
    config: CheckConfig, path: Path, root: Path, lines: Mapping[_KeyPath, int]
) -> CheckConfig:
    """Load a ``policy:`` given as a path (relative to the config file) and check the
    group names of an inline one, with ``file:line`` errors."""
    if config.policy is None:
        return config
    from anima_caption._policy._load import load_policy

    if isinstance(config.policy, str):
        target = Path(config.policy)
        if not target.is_absolute():
            target = root / target
        if not target.is_file():
            line = _line_of(lines, ("policy",)) or 1
            raise UsageError(f"{_display(path)}:{line}: policy file '{config.policy}' not found")
        data = config.model_dump(by_alias=True, exclude={"policy"})
        data["policy"] = load_policy(target)
        return CheckConfig.model_validate(data)
    problems = config.policy.problems()
    if problems:
        key_path, message = problems[0]
        line = _line_of(lines, ("policy", *key_path)) or 1
        raise UsageError(f"{_display(path)}:{line}: {message}")
    return config


def config_for(start: Path, explicit: str | None) -> LoadedConfig:
    """The config for a run: ``explicit`` (``--config``), else the closest one found from
    ``start``, else the defaults with the current directory as root."""
    if explicit is not None:
        return load_config(Path(explicit))
    found = find_config(start)
    if found is not None:
        return load_config(found)
    return LoadedConfig(config=CheckConfig.defaults(), path=None, root=Path.cwd())


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (``docs/schema/anima-caption.schema.json``)."""
    schema = CheckConfig.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/anima-caption/anima-caption/blob/main/docs/schema/"
        "anima-caption.schema.json",
        **schema,
    }


# -- reading files --------------------------------------------------------------------------


def _has_tool_table(path: Path) -> bool:
    import tomllib

    try:
        text = read_config_text(path)
    except UsageError:
        if TOOL_TABLE.encode() in _head(path):
            raise  # ours, but unreadable or too big: say so rather than skip it
        return False
    if TOOL_TABLE not in text:  # cheap pre-check: most pyproject files are not ours
        return False
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise UsageError(f"{_display(path)}: TOML nested too deep; refused") from None
    except tomllib.TOMLDecodeError as error:
        # A broken pyproject.toml that mentions our table: report it rather than skip it.
        raise UsageError(_toml_error_message(path, error)) from None
    tool = data.get("tool")
    return isinstance(tool, dict) and TOOL_TABLE in tool


def _head(path: Path) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            return handle.read(MAX_CONFIG_BYTES)
    except OSError:
        return b""


def _read_toml(path: Path, text: str) -> tuple[Any, dict[_KeyPath, int]]:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(_toml_error_message(path, error)) from None
    except RecursionError:
        raise UsageError(f"{_display(path)}: TOML nested too deep; refused") from None
    tool = data.get("tool")
    if not isinstance(tool, dict) or TOOL_TABLE not in tool:
        raise UsageError(f"{_display(path)}: no [tool.{TOOL_TABLE}] table")
    settings = tool[TOOL_TABLE]
    lines = _toml_lines(text)
    if not isinstance(settings, dict):
        line = lines.get((), 1)
        raise UsageError(f"{_display(path)}:{line}: [tool.{TOOL_TABLE}] must be a table")
    return settings, lines


def _toml_error_message(path: Path, error: Exception) -> str:
    message = str(error)
    match = re.search(r"\(at line (\d+), column \d+\)", message)
    line = match.group(1) if match else "1"
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
    return f"{_display(path)}:{line}: invalid TOML: {reason}"


_TOML_HEADER = re.compile(r"^\s*\[\[?\s*(?P<key>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_TOML_KEY = re.compile(
    r"""^\s*(?P<key>(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)"""
    r"""(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*="""
)
_TOML_PART = re.compile(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)""")


def _toml_key_parts(key: str) -> tuple[str, ...]:
    return tuple(a or b or c for a, b, c in _TOML_PART.findall(key))


def _toml_lines(text: str) -> dict[_KeyPath, int]:
    """Line numbers of the keys under ``[tool.anima-caption]``, by scanning the text.

    Good enough for error messages: headers, dotted and quoted keys; keys inside inline
    tables and multi-line arrays fall back to the line of the key that holds them.
    """
    lines: dict[_KeyPath, int] = {}
    prefix = ("tool", TOOL_TABLE)
    table: tuple[str, ...] = ()
    in_multiline_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline_string:
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline_string = False
            continue
        header = _TOML_HEADER.match(line)
        if header and not _TOML_KEY.match(line):
            table = _toml_key_parts(header.group("key"))
            if table[:2] == prefix:
                lines.setdefault(table[2:], number)
            continue
        key = _TOML_KEY.match(line)
        if key:
            full = table + _toml_key_parts(key.group("key"))
            if full[:2] == prefix:
                lines.setdefault(full[2:], number)
            rest = line[key.end() :]
            if rest.count('"""') % 2 == 1 or rest.count("'''") % 2 == 1:
                in_multiline_string = True
    return lines


def _yaml_loader_class() -> Any:
    """``yaml.SafeLoader`` with YAML 1.2 booleans: only ``true``/``false`` are booleans, so
    ``severity: {DS: off}`` means the string ``off`` (YAML 1.1 would read ``False``)."""
    import re as _re

    import yaml

    class _Loader(yaml.SafeLoader):
        """Refuses aliases (``*name``, also in ``<<: *name`` merges) and nesting deeper
        than :data:`MAX_YAML_DEPTH`: a config never needs either, and both let a few
        hundred bytes expand to gigabytes or recurse without end."""

        _depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"YAML aliases (*{event.anchor}) are not allowed in config files "
                    "(write the values out)",
                    event.start_mark,
                )
            self._depth += 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    event = self.peek_event()  # type: ignore[no-untyped-call]
                    raise yaml.composer.ComposerError(
                        None,
                        None,
                        f"YAML nested more than {MAX_YAML_DEPTH} levels deep",
                        event.start_mark,
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    _Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        _re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    return _Loader


def _read_yaml(path: Path, text: str) -> tuple[Any, dict[_KeyPath, int]]:
    import yaml

    loader = _yaml_loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, {}
        lines: dict[_KeyPath, int] = {}
        _yaml_lines(path, node, (), lines)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = error.problem or error.context or "malformed YAML"
        raise UsageError(f"{_display(path)}:{line}: invalid YAML: {reason}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{_display(path)}: invalid YAML: {error}") from None
    except RecursionError:  # the scanner's flow collections ("[[[[...") also recurse
        raise UsageError(f"{_display(path)}: invalid YAML: nested too deep") from None
    finally:
        loader.dispose()
    if data is None:
        return {}, lines
    if not isinstance(data, dict):
        raise UsageError(
            f"{_display(path)}:{node.start_mark.line + 1}: expected a mapping of settings, "
            f"got {_type_name(data)}"
        )
    return data, lines


def _yaml_lines(path: Path, node: Any, key_path: _KeyPath, lines: dict[_KeyPath, int]) -> None:
    """Record the 1-based line of every mapping key and sequence item; reject duplicate keys."""
    import yaml

    lines.setdefault(key_path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = (*key_path, key)
            if key in seen:
                dotted = ".".join(str(part) for part in child)
                raise UsageError(
                    f"{_display(path)}:{key_node.start_mark.line + 1}: duplicate setting '{dotted}'"
                )
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _yaml_lines(path, value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _yaml_lines(path, item, (*key_path, index), lines)


# -- validation messages --------------------------------------------------------------------


def _setting_names() -> list[str]:
    names = []
    for name, info in CheckConfig.model_fields.items():
        names.append(info.alias or name)
    return names


def _validation_message(path: Path, lines: Mapping[_KeyPath, int], error: ValidationError) -> str:
    problems = error.errors()
    first = problems[0]
    loc = tuple(part for part in first["loc"] if part != "[key]")
    line = _line_of(lines, loc) or 1
    dotted = ".".join(str(part) for part in loc)
    if first["type"] == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        names = _setting_names()
        close = difflib.get_close_matches(key.replace("_", "-"), names, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        message = f"unknown setting '{dotted}'{hint}"
    else:
        reason = first["msg"]
        reason = reason[:1].lower() + reason[1:]
        got = first.get("input")
        shown = f" (got {_short_repr(got)})" if not isinstance(got, (dict, list)) else ""
        message = f"invalid value for '{dotted}': {reason}{shown}"
    more = len(problems) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{_display(path)}:{line}: {message}{suffix}"


def _line_of(lines: Mapping[_KeyPath, int], key_path: _KeyPath) -> int | None:
    """The line of ``key_path`` or of its closest recorded ancestor."""
    for end in range(len(key_path), -1, -1):
        line = lines.get(tuple(key_path[:end]))
        if line is not None:
            return line
    return None


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _type_name(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def _display(path: Path) -> str:
    """``path`` relative to the current directory when it is below it, else as given."""
    try:
        return Path(os.path.abspath(path)).relative_to(Path.cwd()).as_posix()  # noqa: PTH100
    except ValueError:
        return str(path)


# -- rule selection -------------------------------------------------------------------------

_ALL = "ALL"
_EXACT = 1000  # specificity of a full code, slug or CODE/slug


class _Resolver:
    """Turns selectors (code, slug, CODE/slug, code prefix, ALL) into rule codes."""

    def __init__(self, rules: Sequence[type[Rule]]) -> None:
        self.codes = tuple(rule.code for rule in rules)
        self.by_code = {rule.code: rule for rule in rules}
        self.by_slug = {rule.slug: rule.code for rule in rules}

    def resolve(self, selector: str) -> tuple[frozenset[str], int] | None:
        """The codes ``selector`` names and its specificity, or None when it names nothing."""
        raw = selector.strip()
        if raw.upper() == _ALL:
            return frozenset(self.codes), 0
        if "/" in raw:
            code, _, slug = raw.partition("/")
            rule = self.by_code.get(code.strip().upper())
            if rule is not None and rule.slug == slug.strip().lower():
                return frozenset({rule.code}), _EXACT
            return None
        if raw.lower() in self.by_slug:
            return frozenset({self.by_slug[raw.lower()]}), _EXACT
        upper = raw.upper()
        if upper in self.by_code:
            return frozenset({upper}), _EXACT
        if upper and re.fullmatch(r"[A-Z]{1,3}[0-9]{0,3}", upper):
            matched = frozenset(code for code in self.codes if code.startswith(upper))
            if matched:
                return matched, len(upper)
        return None

    def suggest(self, selector: str) -> str:
        names = [*self.by_code, *self.by_slug]
        close = difflib.get_close_matches(selector.strip(), names, n=1, cutoff=0.6)
        if not close:
            close = difflib.get_close_matches(selector.strip().upper(), names, n=1, cutoff=0.6)
        return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True)
class RuleSelection:
    """Which rules run and at which severity, from the config and ``--select``/``--ignore``.

    Selectors are codes (``TG005``), slugs (``unknown-tag``), ``CODE/slug``, code prefixes
    (``TG``, ``TG0``) and ``ALL``. Within one layer (config, then command line) a more specific
    selector beats a less specific one (code > ``TG0`` > ``TG`` > ``ALL``) and, at equal
    specificity, ``ignore`` beats ``select``. The command line is applied after the config: its
    ``--select`` replaces the config's selection (``select`` and ``ignore``), its ``--ignore``
    removes rules from whatever is selected. ``severity`` overrides are taken most specific
    first; ``off`` turns a rule off.
    """

    selected: frozenset[str]
    severities: Mapping[str, Severity | None]

    @classmethod
    def from_config(
        cls,
        config: CheckConfig,
        cli_select: list[str] | None,
        cli_ignore: list[str] | None,
        *,
        rules: Sequence[type[Rule]] | None = None,
        loaded: LoadedConfig | None = None,
    ) -> RuleSelection:
        """Resolve the selection. ``rules`` defaults to every registered rule; ``loaded``
        (the config's origin) puts ``file:line`` into errors about unknown selectors."""
        if rules is None:
            from anima_caption._check._registry import all_rules

            rules = all_rules()
        resolver = _Resolver(rules)
        errors: list[str] = []

        def resolve_all(
            selectors: Iterable[str], origin: str, key: str
        ) -> list[tuple[frozenset[str], int]]:
            resolved = []
            for index, selector in enumerate(selectors):
                hit = resolver.resolve(selector)
                if hit is None:
                    where = ""
                    if origin == "config" and loaded is not None and loaded.path is not None:
                        where = loaded.where((key, index)) + ": "
                    option = f"--{key}" if origin == "cli" else f"'{key}'"
                    errors.append(
                        f"{where}unknown rule selector '{selector}' in {option}"
                        f"{resolver.suggest(selector)}"
                    )
                else:
                    resolved.append(hit)
            return resolved

        config_layer = (
            resolve_all(config.select, "config", "select"),
            resolve_all(config.ignore, "config", "ignore"),
        )
        cli_layer = (
            resolve_all(cli_select, "cli", "select") if cli_select is not None else None,
            resolve_all(cli_ignore or (), "cli", "ignore"),
        )
        severity_rules: list[tuple[frozenset[str], int, Severity | None]] = []
        for selector, level in config.severity.items():
            hit = resolver.resolve(selector)
            if hit is None:
                where = ""
                if loaded is not None and loaded.path is not None:
                    where = loaded.where(("severity", selector)) + ": "
                errors.append(
                    f"{where}unknown rule selector '{selector}' in 'severity'"
                    f"{resolver.suggest(selector)}"
                )
                continue
            severity_rules.append((hit[0], hit[1], None if level == "off" else Severity(level)))
        if errors:
            raise UsageError("; ".join(errors))

        selected: set[str] = set()
        layers = [(config_layer[0], config_layer[1], True)]
        if cli_layer[0] is not None:
            layers.append((cli_layer[0], cli_layer[1], True))
        elif cli_layer[1]:
            layers.append(([], cli_layer[1], False))
        for select, ignore, resets in layers:
            updates: dict[str, bool] = {}
            specificities = sorted({spec for _, spec in (*select, *ignore)})
            for current in specificities:
                for codes, spec in select:
                    if spec == current:
                        updates.update(dict.fromkeys(codes, True))
                for codes, spec in ignore:
                    if spec == current:
                        updates.update(dict.fromkeys(codes, False))
            if resets:
                selected = {code for code, on in updates.items() if on}
            else:
                for code, on in updates.items():
                    if on:
                        selected.add(code)
                    else:
                        selected.discard(code)

        severities: dict[str, Severity | None] = {}
        for rule in rules:
            effective: Severity | None = rule.severity
            best = -1
            for codes, spec, override in severity_rules:
                if rule.code in codes and spec >= best:
                    best, effective = spec, override
            severities[rule.code] = effective
        return cls(selected=frozenset(selected), severities=severities)

    def enabled(self, rule_cls: type[Rule]) -> bool:
        """True when the rule runs (selected and not set to ``off``)."""
        return self.severity_of(rule_cls) is not None

    def severity_of(self, rule_cls: type[Rule]) -> Severity | None:
        """The rule's effective severity, or None when it does not run."""
        if rule_cls.code not in self.selected:
            return None
        return self.severities.get(rule_cls.code, rule_cls.severity)


# -- per-file ignores and excludes ----------------------------------------------------------


class _Glob:
    """A gitignore-style glob, relative to the config root.

    ``*`` and ``?`` stay inside one path segment, ``**`` spans segments, ``[...]`` is a class.
    A pattern without ``/`` matches a file or folder name at any depth (``*.caption``,
    ``drafts``); a pattern with ``/`` is anchored at the root (``dataset/nsfw/**``). A pattern
    that matches a folder matches everything below it. A trailing ``/`` matches folders only.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        text = pattern.strip().replace("\\", "/")
        while text.startswith("./"):
            text = text[2:]
        self.dir_only = text.endswith("/") and text != "/"
        text = text.rstrip("/")
        self.anchored = "/" in text
        text = text.lstrip("/")
        self.regex = re.compile(_glob_regex(text))

    def matches(self, rel: str) -> bool:
        """Whether the posix path ``rel`` (relative to the root) or a folder above it matches."""
        folder, _, name = rel.rpartition("/")
        return self.matches_folder(folder) or self.matches_file(rel, name)

    def matches_folder(self, folder: str) -> bool:
        """Whether the folder ``folder`` (posix, relative; '' for the root) or one above it
        matches."""
        if not folder:
            return False
        parts = folder.split("/")
        if self.anchored:
            return any(
                self.regex.fullmatch("/".join(parts[:end])) for end in range(1, len(parts) + 1)
            )
        return any(self.regex.fullmatch(part) for part in parts)

    def matches_file(self, rel: str, name: str) -> bool:
        """Whether the path itself (not a folder above it) matches."""
        if self.dir_only:
            return False
        return bool(self.regex.fullmatch(rel if self.anchored else name))


class _GlobSet:
    """Globs tested together, remembering the folder part per folder (files of one folder
    share it), so a large dataset costs one regex test per glob and file."""

    def __init__(self, globs: Iterable[_Glob]) -> None:
        self.globs = tuple(globs)
        self._folders: dict[str, tuple[bool, ...]] = {}

    def hits(self, rel: str | None, name: str) -> list[bool]:
        """Which globs match: ``rel`` is the posix path relative to the root (None when the
        path is outside it: then only name patterns apply), ``name`` its last component."""
        if rel is None:
            return [
                not g.anchored and not g.dir_only and bool(g.regex.fullmatch(name))
                for g in self.globs
            ]
        folder = rel.rpartition("/")[0]
        in_folder = self._folders.get(folder)
        if in_folder is None:
            in_folder = tuple(g.matches_folder(folder) for g in self.globs)
            self._folders[folder] = in_folder
        return [
            hit or glob.matches_file(rel, name)
            for hit, glob in zip(in_folder, self.globs, strict=True)
        ]


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                before_ok = i == 0 or pattern[i - 1] == "/"
                after = i + 2
                if before_ok and after < n and pattern[after] == "/":
                    out.append("(?:.*/)?")  # '**/' = zero or more folders
                    i = after + 1
                    continue
                if before_ok and after == n:
                    out.append(".*")
                    i = after
                    continue
                out.append("[^/]*")
                i = after
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            close = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if close == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : close]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = close
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _relative(path: Path | str, loaded: LoadedConfig) -> str | None:
    """``path`` relative to the config root, posix-style; None when it is not below it."""
    text = os.path.abspath(path)  # noqa: PTH100 - str paths: faster for large datasets
    prefix = loaded._root_prefix
    if not text.startswith(prefix) or len(text) == len(prefix):
        return None
    rel = text[len(prefix) :]
    return rel if os.sep == "/" else rel.replace(os.sep, "/")


def is_excluded(path: Path | str, loaded: LoadedConfig) -> bool:
    """Whether ``path`` (a file or folder) matches an ``exclude`` glob of the config."""
    globs = loaded._exclude_globs
    if not globs.globs:
        return False
    return any(globs.hits(_relative(path, loaded), os.path.basename(path)))  # noqa: PTH119


def ignored_for(
    path: Path | str, loaded: LoadedConfig, *, rules: Sequence[type[Rule]] | None = None
) -> frozenset[str]:
    """Rule codes ``per-file-ignores`` switches off for ``path``.

    Selectors are resolved like ``ignore`` (codes, slugs, prefixes, ``ALL``); ``rules``
    defaults to every registered rule. Unknown selectors raise :class:`UsageError`.
    """
    globs = loaded._ignore_globs
    if not globs.globs:
        return frozenset()
    hits = globs.hits(_relative(path, loaded), os.path.basename(path))  # noqa: PTH119
    ignored: frozenset[str] = frozenset()
    for hit, glob in zip(hits, globs.globs, strict=True):
        if hit:
            selectors = tuple(loaded.config.per_file_ignores[glob.pattern])
            ignored |= _resolve_ignores(loaded, glob.pattern, selectors, rules)
    return ignored


def _resolve_ignores(
    loaded: LoadedConfig,
    pattern: str,
    selectors: tuple[str, ...],
    rules: Sequence[type[Rule]] | None,
) -> frozenset[str]:
    cache = loaded._ignore_cache if rules is None else {}
    found = cache.get(pattern)
    if found is not None:
        return found
    if rules is None:
        from anima_caption._check._registry import all_rules

        rules = all_rules()
    resolver = _Resolver(rules)
    codes: set[str] = set()
    unknown: list[str] = []
    for index, selector in enumerate(selectors):
        hit = resolver.resolve(selector)
        if hit is None:
            where = loaded.where(("per-file-ignores", pattern, index))
            unknown.append(
                f"{where + ': ' if where else ''}unknown rule selector '{selector}' in "
                f"'per-file-ignores'{resolver.suggest(selector)}"
            )
        else:
            codes |= hit[0]
    if unknown:
        raise UsageError("; ".join(unknown))
    result = frozenset(codes)
    cache[pattern] = result
    return result


if __name__ == "__main__":  # pragma: no cover - regenerates docs/schema/anima-caption.schema.json
    import json
    import sys

    json.dump(config_json_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
