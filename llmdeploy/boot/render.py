"""Render the jinja2 templates under `templates/`; a missing variable is an error, never blank.

Boot templates (`boot/...`, the router VM's `router/...`) print only escaped text: `{{ value }}` of a
raw string is an error, so every interpolation names its target format (`| sh`, `| yaml`, `| text`, ...,
see llmdeploy.boot.escape). Integers print as they are: they cannot hold a quote or a newline.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from llmdeploy.boot import escape

#: The repository's templates folder (llmdeploy runs from its checkout, see STYLE.md section 6).
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
#: Templates under these folders are boot files: strict about escaping.
BOOT_PREFIXES = ("boot/", "router/")


def _escaped_only(value: object) -> object:
    """jinja2's `finalize`: what a `{{ ... }}` may print in a boot template."""
    if isinstance(value, escape.Escaped) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(
        f"boot templates print only escaped values: {value!r} needs a filter for its format "
        "(sh, yaml, yaml_block, nginx_path, nginx_uri, nginx_host, text, unit_text, unit_arg)"
    )


@cache
def _environment(boot: bool) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=_escaped_only if boot else None,
    )
    environment.filters.update(
        sh=escape.sh,
        yaml=escape.yaml,
        yaml_block=escape.yaml_block,
        nginx_path=escape.nginx_path,
        nginx_uri=escape.nginx_uri,
        nginx_host=escape.nginx_host,
        text=escape.text,
        unit_text=escape.unit_text,
        unit_arg=escape.unit_arg,
    )
    return environment


def render(name: str, context: dict[str, Any]) -> str:
    """The template `name` (relative to templates/) rendered with `context`.

    Raises:
        RenderError: a value cannot be written faithfully in its target format.
    """
    return _environment(name.startswith(BOOT_PREFIXES)).get_template(name).render(context)
