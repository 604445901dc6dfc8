"""The configuration reference: every key of an environment file with its type, default and meaning.

Generated from the same pydantic models that validate the files (so the README never drifts from them).
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from llmdeploy.config.annotations import is_model, options
from llmdeploy.config.environment import EnvironmentConfig


def reference_markdown(root: type[BaseModel] = EnvironmentConfig) -> str:
    """A markdown table of every key under `root`, depth first, in declaration order."""
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    rows += [_row(path, field) for path, field in walk(root, "")]
    return "\n".join(rows)


def walk(model: type[BaseModel], prefix: str) -> list[tuple[str, FieldInfo]]:
    """Every field under `model` with its key path (`models[].capacity.max`), depth first."""
    found: list[tuple[str, FieldInfo]] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        found.append((path, field))
        for inner, suffix in _nested(field.annotation):
            found += walk(inner, f"{path}{suffix}.")
    return found


def _nested(annotation: Any) -> list[tuple[type[BaseModel], str]]:
    """Models nested under a field, with the path suffix a list (`[]`) or mapping (`.<key>`) adds."""
    found: list[tuple[type[BaseModel], str]] = []
    for option in options(annotation):
        origin = get_origin(option)
        if origin is list:
            found += [(model, f"[]{suffix}") for model, suffix in _nested(get_args(option)[0])]
        elif origin is dict:
            found += [(model, f".<key>{suffix}") for model, suffix in _nested(get_args(option)[1])]
        elif is_model(option):
            found.append((option, ""))
    return found


def _row(path: str, field: FieldInfo) -> str:
    description = (field.description or "").replace("|", "\\|").replace("\n", " ")
    return f"| `{path}` | {_type_name(field.annotation)} | {_default(field)} | {description} |"


def _type_name(annotation: Any) -> str:
    return f"`{_describe(annotation)}`".replace("|", "\\|")


def _describe(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if hasattr(annotation, "__metadata__"):
        return _describe(args[0])
    if origin in (Union, types.UnionType):
        return " | ".join(_describe(arg) for arg in args)
    if origin is Literal:
        return " | ".join(repr(arg) for arg in args)
    if origin is list:
        return f"list of {_describe(args[0])}"
    if origin is dict:
        return f"map of {_describe(args[0])} to {_describe(args[1])}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None or field.default is PydanticUndefined:
        return "see below" if field.default_factory else ""
    return f"`{field.default!r}`".replace("|", "\\|")
