"""Round-trip edits of environment files that keep comments, key order, quoting and blank lines.

ruamel.yaml keeps a comment with the entry it follows, so a blank line that separates one model
from the next hangs off the last entry of the first model. When an edit appends a key to a
mapping, or deletes its last key, that trailing text must move to the new last entry, or the
blank line would end up inside the model instead of between models.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

#: The layout of the example files: mappings indented by 2, `- ` list items indented by 2 under their key.
_MAPPING_INDENT = 2
_SEQUENCE_INDENT = 4
_SEQUENCE_DASH_OFFSET = 2
#: Never re-wrap long lines (a comment or a long string must stay on its line).
_NO_WRAP = 4096
#: Where ruamel keeps the comment after an entry: index 2 for a mapping key, 0 for a list item.
_MAP_TAIL, _SEQ_TAIL = 2, 0


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = _NO_WRAP
    yaml.indent(mapping=_MAPPING_INDENT, sequence=_SEQUENCE_INDENT, offset=_SEQUENCE_DASH_OFFSET)
    return yaml


def load_document(text: str) -> CommentedMap:
    """Parse YAML text for editing."""
    document = _yaml().load(text)
    if not isinstance(document, CommentedMap):
        raise ValueError("the top level is not a mapping")
    return document


def dump_document(document: CommentedMap) -> str:
    """The document as text, unchanged parts byte for byte as they were read."""
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    return buffer.getvalue()


def set_key(mapping: CommentedMap, key: str, value: Any) -> None:
    """Set `key`: in place when present, else appended after the last key."""
    if key in mapping:
        mapping[key] = value
        return
    tail = _detach_tail(mapping)
    mapping[key] = value
    _attach_tail(mapping, tail)


def delete_key(mapping: CommentedMap, key: str) -> None:
    """Remove `key` if present, keeping the text that followed the mapping."""
    if key not in mapping:
        return
    tail = _detach_tail(mapping)
    del mapping[key]
    _attach_tail(mapping, tail)


def _last(node: Any) -> tuple[Any, int] | None:
    """The last key (or index) of a non-empty block container and where its tail comment sits."""
    if isinstance(node, CommentedMap) and node:
        return next(reversed(node)), _MAP_TAIL
    if isinstance(node, CommentedSeq) and node:
        return len(node) - 1, _SEQ_TAIL
    return None


def _tail_holder(node: Any) -> tuple[Any, Any, int] | None:
    """The deepest last entry under `node` that carries a trailing comment."""
    last = _last(node)
    if last is None:
        return None
    key, index = last
    deeper = _tail_holder(node[key])
    if deeper is not None:
        return deeper
    entry = node.ca.items.get(key)
    if entry is not None and entry[index] is not None:
        return node, key, index
    return None


def _detach_tail(mapping: CommentedMap) -> str:
    """Cut what follows the end of the mapping's last line (blank lines, comments) and return it."""
    holder = _tail_holder(mapping)
    if holder is None:
        return ""
    node, key, index = holder
    token = node.ca.items[key][index]
    head, newline, rest = str(token.value).partition("\n")
    token.value = head + newline
    return rest


def _attach_tail(mapping: CommentedMap, tail: str) -> None:
    """Hang `tail` after the (new) last line of the mapping."""
    if not tail or _last(mapping) is None:
        return
    node: Any = mapping
    while True:
        key, index = _last(node)  # type: ignore[misc]  # non-empty: checked above and below
        child = node[key]
        if _last(child) is None or child.fa.flow_style():
            break
        node = child
    entry = node.ca.items.setdefault(key, [None, None, None, None])
    token = entry[index]
    if token is None:
        entry[index] = CommentToken("\n" + tail, CommentMark(0), None)
    else:
        token.value = str(token.value) + tail
