"""Every config key explains itself: the schema (editor hints) and the README reference show each one."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from typing import Any

from pydantic import BaseModel

import llmdeploy.config
from tests.conftest import REPO


def config_models() -> list[type[BaseModel]]:
    """Every pydantic model the config package defines (each module of it, not only what is reachable)."""
    found: dict[str, type[BaseModel]] = {}
    for module in pkgutil.iter_modules(llmdeploy.config.__path__, "llmdeploy.config."):
        loaded = importlib.import_module(module.name)
        for _, value in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(value, BaseModel) and value.__module__ == loaded.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def test_the_walk_finds_the_models() -> None:
    names = {model.__name__ for model in config_models()}
    assert {"EnvironmentConfig", "ModelConfig", "AwsCloud", "GcpCloud", "AzureCloud"} <= names


def test_every_config_field_has_a_description() -> None:
    missing = [
        f"{model.__module__}.{model.__qualname__}.{name}"
        for model in config_models()
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert missing == [], "give these fields a description (an attribute docstring or Field(description=...))"


def test_every_key_of_the_published_schema_is_described() -> None:
    """A key whose model is described by its docstring carries the description on that definition."""
    schema = json.loads((REPO / "environments" / "llmdeploy.schema.json").read_text(encoding="utf-8"))
    definitions = schema.get("$defs", {})
    missing: list[str] = []

    def described(node: dict[str, Any]) -> bool:
        if node.get("description"):
            return True
        ref = node.get("$ref", "")
        return bool(ref) and bool(definitions.get(ref.rsplit("/", 1)[-1], {}).get("description"))

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.get("properties", {}).items():
                if isinstance(value, dict) and not described(value):
                    missing.append(f"{where}.{key}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    walk(schema, "")
    assert missing == []
