"""Pipeline documents as YAML text: a comment header, then the data in insertion order.

Built as Python data rather than templated text because both platforms' expression syntaxes
(`${{ ... }}`, `$VAR`) collide with template syntax; dumping also guarantees valid YAML and the
same bytes for the same inputs.
"""

from __future__ import annotations

from typing import Any

import yaml

Document = dict[str, Any]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (scripts) as literal blocks, so they read as the shell they are."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a repeated rule is written out again: `&id001` anchors puzzle readers


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def to_yaml(document: Document, header: list[str]) -> str:
    """`header` lines as `#` comments, a blank line, then `document`."""
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header)
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        width=1_000_000,
        allow_unicode=True,
        default_flow_style=False,
    )
    return f"{comments}\n{body}"
