"""Render the jinja2 templates under `templates/`; a missing variable is an error, never blank."""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

#: The repository's templates folder (llmdeploy runs from its checkout, see STYLE.md section 6).
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    # `| sh` quotes a value for bash and for systemd EnvironmentFile= alike.
    environment.filters["sh"] = shlex.quote
    return environment


def render(name: str, context: dict[str, Any]) -> str:
    """The template `name` (relative to templates/) rendered with `context`."""
    return _environment().get_template(name).render(context)
