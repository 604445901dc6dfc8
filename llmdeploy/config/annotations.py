"""Reading the config models' type annotations: what a field may hold, with unions and metadata unwrapped.

Error hints (which keys exist at a path) and the generated config reference (which models nest
where) both walk the models through these.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel


def options(annotation: Any) -> list[Any]:
    """The types a field may hold: each member of a union, without `Annotated` metadata."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return [inner for arg in get_args(annotation) for inner in options(arg)]
    if hasattr(annotation, "__metadata__"):
        return options(get_args(annotation)[0])
    return [annotation]


def is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)
