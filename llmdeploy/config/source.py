"""Reading environment files: YAML with line numbers, `extends` chains and deep merging.

Returns plain data plus where each value came from (file and line), so that a validation error
deep in `models[0].capacity.max` can point at the line that set it, even in a base file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from llmdeploy.config.common import ENV_REFERENCE_KEYS
from llmdeploy.errors import ConfigError, Problem

Loc = tuple[str | int, ...]

# Bounds on what one file may make the loader build: `llmdeploy validate` runs in CI on pull requests,
# so a hostile file must fail fast with a message, never exhaust memory or time. Real files are far
# below these (the largest example holds about 150 values, 5 levels deep).
MAX_FILE_BYTES = 512 * 1024
MAX_NODES = 20_000
MAX_DEPTH = 32

#: The C loader where PyYAML has it: same results, faster on large inputs.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TAG_NAMES = {
    "tag:yaml.org,2002:bool": "a true/false value",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "an empty value (null)",
    "tag:yaml.org,2002:timestamp": "a date",
}


@dataclass
class Source:
    """Merged config data and the file:line each value was set at."""

    data: dict[str, Any]
    positions: dict[Loc, tuple[str, int]] = field(default_factory=dict)

    def locate(self, loc: Loc) -> tuple[str | None, int | None]:
        """The file and line of `loc`, or of its nearest located ancestor."""
        for size in range(len(loc), -1, -1):
            if loc[:size] in self.positions:
                return self.positions[loc[:size]]
        return None, None


def read_source(path: Path) -> Source:
    """Read an environment file and every file it extends, merged (child wins, lists replace)."""
    return _read(path.resolve(), chain=())


def _read(path: Path, chain: tuple[Path, ...]) -> Source:
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigError(
            [Problem(f"`extends` forms a cycle: {cycle}", file=str(path), hint="remove one link")]
        )
    own = _parse(path)
    parent_name = own.data.pop("extends", None)
    own.positions = {loc: where for loc, where in own.positions.items() if loc[:1] != ("extends",)}
    if parent_name is None:
        return own
    if not isinstance(parent_name, str):
        raise ConfigError([Problem("extends must be a file name", path="extends", file=str(path))])
    parent_path = (path.parent / parent_name).resolve()
    if not parent_path.is_file():
        raise ConfigError(
            [Problem(f"extends names {parent_name!r}, which does not exist", path="extends", file=str(path))]
        )
    return merge(_read(parent_path, (*chain, path)), own)


def _parse(path: Path) -> Source:
    try:
        text = _read_text(path)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(f"cannot read the file: {error}", file=str(path))]) from None
    try:
        _check_shape(text, str(path))
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as error:
        raise ConfigError([_yaml_problem(path, error)]) from None
    if root is None:
        raise ConfigError([Problem("the file is empty", file=str(path), hint="start from `llmdeploy init`")])
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError([Problem("the top level must be a mapping of keys", file=str(path), line=1)])
    builder = _Builder(str(path))
    data = builder.build(root, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    return Source(data=data, positions=builder.positions)


def _read_text(path: Path) -> str:
    with path.open("rb") as stream:
        raw = stream.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            [
                Problem(
                    f"the file is larger than {MAX_FILE_BYTES} bytes: not an environment file", file=str(path)
                )
            ]
        )
    return raw.decode("utf-8")


def _check_shape(text: str, file: str) -> None:
    """Refuse deep nesting and huge event counts from the event stream, before building any tree.

    The composer recurses once per nesting level, so depth is bounded here, where nothing recurses.
    """
    depth = 0
    for events, event in enumerate(yaml.parse(text, Loader=_LOADER), start=1):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError([_bound_problem(f"nesting deeper than {MAX_DEPTH} levels", file, event)])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if events > MAX_NODES:
            raise ConfigError([_bound_problem(f"more than {MAX_NODES} values", file, event)])


def _bound_problem(what: str, file: str, at: yaml.Event | yaml.Node) -> Problem:
    return Problem(
        f"{what}: no environment file needs that many, so llmdeploy stops reading here",
        file=file,
        line=at.start_mark.line + 1 if at.start_mark else None,
        hint="an environment file holds a few hundred values at most; remove generated or repeated content",
    )


def _yaml_problem(path: Path, error: yaml.YAMLError) -> Problem:
    mark = getattr(error, "problem_mark", None)
    reason = getattr(error, "problem", None) or str(error)
    return Problem(
        f"not valid YAML: {reason}",
        file=str(path),
        line=mark.line + 1 if mark is not None else None,
        hint="check the indentation and quoting on that line",
    )


class _Builder:
    """Plain data from a composed YAML tree, with the file:line of every value.

    Aliases are expanded here under a budget (MAX_NODES values, MAX_DEPTH levels), so that a
    700-byte alias bomb stops at the budget instead of taking seconds and gigabytes. Only text
    keys are accepted, merge keys (`<<`) are refused, and `.inf`/`.nan` never get through.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.positions: dict[Loc, tuple[str, int]] = {}
        self.problems: list[Problem] = []
        self._visited = 0
        self._scalars = SafeConstructor()

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self._visited += 1
        if self._visited > MAX_NODES or len(loc) > MAX_DEPTH:
            what = f"aliases (*name) expand to more than {MAX_NODES} values or {MAX_DEPTH} levels"
            raise ConfigError([_bound_problem(what, self.file, node)])
        self.positions[loc] = (self.file, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]
        return self._scalar(node, loc)

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, loc)
            if key is None:
                continue
            if key in found:
                self._problem(f"key {key!r} appears twice", (*loc, key), key_node)
                continue
            found[key] = self.build(value_node, (*loc, key))
        return found

    def _key(self, node: yaml.Node, loc: Loc) -> str | None:
        if node.tag == _MERGE_TAG:
            hint = "put shared settings in a base file named by `extends:`, or write the keys out"
            self._problem("merge keys (<<) are not supported", loc, node, hint)
            return None
        if not isinstance(node, yaml.ScalarNode):
            self._problem("a key must be plain text, not a list or mapping", loc, node)
            return None
        if node.tag != _STR_TAG:
            kind = _TAG_NAMES.get(node.tag, "something other than text")
            message = f"key {node.value!r} is read by YAML as {kind}, and keys must be text"
            self._problem(message, loc, node, f"quote it: '{node.value}':")
            return None
        return str(node.value)

    def _scalar(self, node: yaml.Node, loc: Loc) -> Any:
        value = self._scalars.construct_object(node)
        if isinstance(value, float) and not math.isfinite(value):
            hint = "write a plain number (YAML reads .inf and .nan as infinity and not-a-number)"
            self._problem(f"{node.value!r} is not a finite number", loc, node, hint)
        return value

    def _problem(self, message: str, loc: Loc, node: yaml.Node, hint: str | None = None) -> None:
        line = node.start_mark.line + 1
        self.problems.append(Problem(message, path=format_loc(loc), file=self.file, line=line, hint=hint))


def merge(base: Source, override: Source) -> Source:
    """Deep-merge two sources: mappings merge key by key; lists and scalars replace."""
    replaced = [loc for loc in override.positions if not isinstance(_at(override.data, loc), dict)]
    positions = {
        loc: where for loc, where in base.positions.items() if not any(loc[: len(r)] == r for r in replaced)
    }
    positions.update(override.positions)
    data = deep_merge(base.data, override.data)
    return Source(data=data, positions={loc: where for loc, where in positions.items() if _exists(data, loc)})


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`: nested mappings merge, everything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _exists(data: Any, loc: Loc) -> bool:
    for part in loc:
        in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if not in_list and not (isinstance(data, dict) and part in data):
            return False
        data = data[part]
    return True


def _at(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = data[part]
    return data


def misplaced_env_references(source: Source) -> list[Problem]:
    """`${VAR}` written where only literal values belong (anywhere but secret names and account ids)."""
    problems = []
    for loc in source.positions:
        value = _at(source.data, loc) if loc else None
        if isinstance(value, str) and "${" in value and not _env_allowed(loc):
            file, line = source.locate(loc)
            problems.append(
                Problem(
                    "environment references (${...}) are only allowed in secret names and account ids",
                    path=format_loc(loc),
                    file=file,
                    line=line,
                    hint="write the value itself here",
                )
            )
    return problems


def _env_allowed(loc: Loc) -> bool:
    keys = [part for part in loc if isinstance(part, str)]
    return bool(keys) and keys[-1] in ENV_REFERENCE_KEYS


def format_loc(loc: Loc) -> str:
    """`('models', 0, 'capacity')` as `models[0].capacity`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
