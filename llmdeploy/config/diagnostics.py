"""Turning pydantic's validation errors into located, readable problems.

Each problem names the file and line, the key path (`models[0].capacity.max`), the bad value where it
is safe to show, and what is expected; an unknown key gets the closest valid key as a suggestion.
"""

from __future__ import annotations

import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from llmdeploy.catalog import closest
from llmdeploy.config.annotations import is_model, options
from llmdeploy.config.source import Loc, Source, format_loc
from llmdeploy.errors import Problem

#: Values under these keys are never echoed back: they might be a secret pasted by mistake.
_SECRET_KEYS = frozenset({"hf_token", "api_key", "secret"})
_STATE_BACKENDS = frozenset({"local", "s3", "gcs", "azurerm"})
# Keys are identifiers, or map keys such as tag keys and slot names, which may hold dashes.
_RELATIVE = re.compile(r"^(\w[\w-]*(?:\[\d+\])*(?:\.\w[\w-]*(?:\[\d+\])*)*): (.+)$", re.DOTALL)
_PART = re.compile(r"(\w[\w-]*)|\[(\d+)\]")


def problems_from(error: ValidationError, source: Source, root: type[BaseModel]) -> list[Problem]:
    """One problem per pydantic error (and per line of a multi-problem validator message)."""
    found: list[Problem] = []
    for detail in error.errors(include_url=False):
        loc = _clean_loc(tuple(detail["loc"]))
        found += [_problem(loc, message, source) for loc, message in _messages(loc, detail, root)]
    return found


def _clean_loc(loc: Loc) -> Loc:
    # A tagged union puts the chosen tag into the location; the user never wrote it.
    if len(loc) > 1 and loc[0] == "state" and loc[1] in _STATE_BACKENDS:
        return (loc[0], *loc[2:])
    return loc


def _messages(loc: Loc, detail: ErrorDetails, root: type[BaseModel]) -> list[tuple[Loc, str]]:
    kind = detail["type"]
    if kind == "extra_forbidden":
        return [(loc, _unknown_key(loc, root))]
    if kind == "missing":
        return [(loc, "required key is missing")]
    message = detail["msg"].removeprefix("Value error, ")
    if kind == "value_error":
        return [_relative(loc, line) for line in message.splitlines()]
    return [(loc, f"{message}{_shown_value(loc, detail.get('input'))}")]


def _relative(loc: Loc, line: str) -> tuple[Loc, str]:
    match = _RELATIVE.match(line)
    if not match:
        return loc, line
    parts: list[str | int] = [name if name else int(index) for name, index in _PART.findall(match.group(1))]
    return (*loc, *parts), match.group(2)


def _shown_value(loc: Loc, value: Any) -> str:
    if any(part in _SECRET_KEYS for part in loc) or isinstance(value, dict | list):
        return ""
    return f" (got {value!r})"


def _unknown_key(loc: Loc, root: type[BaseModel]) -> str:
    key = str(loc[-1])
    valid = sorted(_fields_at(root, loc[:-1]))
    guess = closest(key, valid)
    if guess:
        return f"unknown key {key!r}; did you mean {guess!r}?"
    return f"unknown key {key!r}; valid keys here: {', '.join(valid) or 'none'}"


def _fields_at(root: type[BaseModel], loc: Loc) -> set[str]:
    candidates: list[Any] = [root]
    for part in loc:
        candidates = [inner for candidate in candidates for inner in _step(candidate, part)]
    return {name for candidate in candidates if is_model(candidate) for name in candidate.model_fields}


def _step(annotation: Any, part: str | int) -> list[Any]:
    found: list[Any] = []
    for option in options(annotation):
        if is_model(option) and isinstance(part, str) and part in option.model_fields:
            found += options(option.model_fields[part].annotation)
        elif get_origin(option) is list and isinstance(part, int):
            found += options(get_args(option)[0])
        elif get_origin(option) is dict:
            found += options(get_args(option)[1])
    return found


def _problem(loc: Loc, message: str, source: Source) -> Problem:
    file, line = source.locate(loc)
    return Problem(message, path=format_loc(loc), file=file, line=line)
