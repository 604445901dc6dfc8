"""Every problem of a file in one run, whatever validation layer finds it.

pydantic runs a model's own validators only once its fields validate, and the environment's checks
across models, clouds and capabilities (`EnvironmentConfig._consistent`: unknown instance types,
features a cloud lacks, spot settings) only once every model validates. One bad field would hide
every problem of a later layer until the user fixed it and ran again. So after a failed validation
the keys that failed are set aside (their defaults stand in) and the rest is validated again, a few
times over; a later pass's problem at, above or below a key set aside is dropped as its echo.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ValidationError

from llmdeploy.config.diagnostics import problems_from
from llmdeploy.config.source import Loc, Source, format_loc
from llmdeploy.errors import Problem

#: Validation passes after the first: each sets aside the keys the previous one refused. Layers are
#: few (field, model, environment), so passes beyond this find nothing new.
MORE_PASSES = 4


def every_problem(error: ValidationError, source: Source, root: type[BaseModel]) -> list[Problem]:
    """The problems of `error`, and those later layers find once the refused keys are set aside."""
    problems = problems_from(error, source, root)
    data = copy.deepcopy(source.data)
    set_aside: list[str] = []
    for _ in range(MORE_PASSES):
        cut = [key for detail in error.errors() if (key := _key_to_drop(data, detail)) is not None]
        if not cut:
            break
        for key in cut:
            _drop(data, key)
        set_aside += [format_loc(key) for key in cut]
        try:
            root.model_validate(data)
        except ValidationError as again:
            error = again
            found = problems_from(again, source, root)
            problems += [p for p in found if p not in problems and not _echo(p.path, set_aside)]
            continue
        break
    return problems


def _key_to_drop(data: dict[str, Any], detail: Any) -> Loc | None:
    """Where in `data` the refused value sits, as far as the last mapping key: None at the root.

    A missing key cannot be set aside; a refused list item takes its whole list (dropping the item
    would renumber its siblings, and each problem names its item by index).
    """
    if detail["type"] == "missing":
        return None
    node: Any = data
    path: list[str | int] = []
    last_key = 0
    for part in detail["loc"]:
        if isinstance(node, dict) and part in node:
            path.append(part)
            last_key = len(path)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        # Anything else is pydantic's own part of the location (a union's tag): not in the data.
    return tuple(path[:last_key]) or None


def _drop(data: dict[str, Any], key: Loc) -> None:
    node: Any = data
    for part in key[:-1]:
        node = node[part]
    if isinstance(node, dict):
        node.pop(key[-1], None)


def _echo(path: str, set_aside: list[str]) -> bool:
    """Whether a problem at `path` is about a key set aside (or what holds it, or lies within it)."""
    return bool(path) and any(path == key or _under(path, key) or _under(key, path) for key in set_aside)


def _under(path: str, key: str) -> bool:
    return path.startswith(key + ".") or path.startswith(key + "[")
