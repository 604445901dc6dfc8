"""Reading environment files: YAML with line numbers, `extends` chains and deep merging.

Returns plain data plus where each value came from (file and line), so that a validation error
deep in `models[0].capacity.max` can point at the line that set it, even in a base file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmdeploy.config.common import ENV_REFERENCE_KEYS
from llmdeploy.errors import ConfigError, Problem

Loc = tuple[str | int, ...]


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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(f"cannot read the file: {error}", file=str(path))]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError([_yaml_problem(path, error)]) from None
    if root is None or data is None:
        raise ConfigError([Problem("the file is empty", file=str(path), hint="start from `llmdeploy init`")])
    if not isinstance(data, dict):
        raise ConfigError([Problem("the top level must be a mapping of keys", file=str(path), line=1)])
    positions: dict[Loc, tuple[str, int]] = {}
    problems: list[Problem] = []
    _walk(root, (), str(path), positions, problems)
    if problems:
        raise ConfigError(problems)
    return Source(data=data, positions=positions)


def _yaml_problem(path: Path, error: yaml.YAMLError) -> Problem:
    mark = getattr(error, "problem_mark", None)
    reason = getattr(error, "problem", None) or str(error)
    return Problem(
        f"not valid YAML: {reason}",
        file=str(path),
        line=mark.line + 1 if mark is not None else None,
        hint="check the indentation and quoting on that line",
    )


def _walk(
    node: yaml.Node, loc: Loc, file: str, positions: dict[Loc, tuple[str, int]], problems: list[Problem]
) -> None:
    positions[loc] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(
                    Problem(
                        f"key {key!r} appears twice",
                        path=format_loc((*loc, key)),
                        file=file,
                        line=key_node.start_mark.line + 1,
                    )
                )
            seen.add(key)
            _walk(value_node, (*loc, key), file, positions, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), file, positions, problems)


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
