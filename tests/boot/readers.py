"""Readers of the boot bundle's formats, written from each format's own parser, for the escaping tests.

Each returns the structure a real consumer sees, so a test can assert that a hostile value added
no command, setting, location or file and lost no character.
"""

from __future__ import annotations

import re


def systemd_env(text: str) -> dict[str, str]:
    """An `EnvironmentFile=` as systemd reads it: a port of `parse_env_file_internal`.

    systemd/systemd src/basic/env-file.c: single quotes keep everything literally, double quotes
    unescape `"\\`$` and eat an escaped newline, an unquoted backslash escapes the next character,
    unquoted trailing whitespace is dropped, `#`/`;` lines are comments.
    """
    settings: dict[str, str] = {}
    state, key, value, trailing = "pre_key", "", "", -1
    for char in text + "\n":
        if state == "pre_key":
            if char in "#;":
                state = "comment"
            elif char not in " \t\n\r":
                state, key = "key", char
        elif state == "comment":
            if char in "\n\r":
                state = "pre_key"
        elif state == "key":
            if char in "\n\r":
                state = "pre_key"
            elif char == "=":
                state, value, trailing = "pre_value", "", -1
            else:
                key += char
        elif state in ("pre_value", "value"):
            if char in "\n\r":
                settings[key.strip()] = value[:trailing] if state == "value" and trailing >= 0 else value
                state = "pre_key"
            elif char == "'" and state == "pre_value":
                state = "single"
            elif char == '"' and state == "pre_value":
                state = "double"
            elif char == "\\":
                state, trailing = "escape", -1
            elif state == "value" or char not in " \t":
                # Unquoted trailing whitespace is dropped: remember where it began.
                trailing = (len(value) if trailing < 0 else trailing) if char in " \t" else -1
                state, value = "value", value + char
        elif state == "escape":
            state = "value"
            value += "" if char in "\n\r" else char
        elif state == "single":
            state, value = ("pre_value", value) if char == "'" else ("single", value + char)
        elif state == "double":
            if char == '"':
                state = "pre_value"
            elif char == "\\":
                state = "double_escape"
            else:
                value += char
        elif state == "double_escape":
            state = "double"
            value += char if char in '"\\`$' else "" if char == "\n" else "\\" + char
    return settings


def unit_settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, raw value) of a systemd unit file, as conf-parser.c splits it.

    Lines end at \\n or \\r; a line ending in a backslash continues on the next (joined by a space);
    `#`/`;` lines are comments.
    """
    settings: list[tuple[str, str, str]] = []
    section, pending = "", ""
    for line in re.split(r"\r\n|\r|\n", text):
        line = pending + line
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            section = stripped
            continue
        key, _, value = stripped.partition("=")
        settings.append((section, key.strip(), value.strip()))
    return settings


def nginx_statements(text: str) -> list[str]:
    """The directive structure of an nginx config: each statement's name, `{` and `}`.

    Quoted tokens (ngx_conf_read_token: `"..."`/`'...'` with backslash escapes) and `#` comments
    are consumed whole, so a value can only ever be an argument, never a directive or a block.
    """
    structure: list[str] = []
    tokens: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "#":
            index = text.find("\n", index)
            index = len(text) if index < 0 else index
        elif char in "\"'":
            index = _quoted_end(text, index)
            tokens.append("<quoted>")
        elif char in ";{}":
            if tokens:
                structure.append(tokens[0])
            structure.append(char)
            tokens = []
            index += 1
        elif char.isspace():
            index += 1
        else:
            match = re.compile(r"[^\s;{}\"'#]+").match(text, index)
            assert match is not None
            tokens.append(match.group())
            index = match.end()
    return structure


def _quoted_end(text: str, start: int) -> int:
    index = start + 1
    while text[index] != text[start]:
        index += 2 if text[index] == "\\" else 1
    return index + 1
