"""Escaping of values into each format the boot bundle is written in: one function per target.

Every value a boot template prints goes through one of these (the renderer refuses a raw string),
so a value from a config file can never end a line, a quote or a block of the file it lands in:
a newline in a model id stays part of the model id, never becomes a cloud-init command, a systemd
setting or an nginx location. A value a format cannot hold at all (NUL in bash, a path nginx
would read as a location modifier) is refused with `RenderError`, never silently changed.
"""

from __future__ import annotations

import re
import shlex

from llmdeploy.errors import LlmdeployError


class RenderError(LlmdeployError):
    """A value cannot be written into a boot file faithfully (exit 2: it came from the input)."""

    exit_code = 2


class Escaped(str):
    """Text already escaped for the file it is printed into; the renderer prints only these (and ints)."""


#: YAML 1.1 (PyYAML, which cloud-init uses) reads these as line breaks, besides \n.
_YAML_BREAKS = frozenset("\r\x85\u2028\u2029")
#: nginx's unquoted token characters we keep unquoted (so ordinary paths read as before).
NGINX_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")
#: Words a systemd command line takes as they are (no quote, escape, specifier or variable).
_UNIT_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")
#: A DNS host name (RFC 1123 labels): nginx's `server_name` reads `~` as a regex and `*` as a wildcard.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
#: nginx refuses a token that fills its 4096-byte read buffer (ngx_conf_file.c, NGX_CONF_BUFFER).
NGINX_TOKEN_MAX = 4000


def _refuse(value: str, what: str, reason: str) -> RenderError:
    shown = value if len(value) <= 80 else f"{value[:77]}..."
    return RenderError(
        f"{shown!r} cannot be written as {what}: {reason}; fix the value in the environment file"
    )


def _check_unicode(value: str, what: str) -> None:
    """Every file is UTF-8 and no format here can carry NUL (C strings in bash, systemd, nginx)."""
    if "\0" in value:
        raise _refuse(value, what, "it contains a NUL character")
    try:
        value.encode()
    except UnicodeEncodeError as error:
        raise _refuse(value, what, "it is not valid Unicode (a lone surrogate)") from error


def sh(value: str) -> Escaped:
    """One word for bash, and one value of a systemd `EnvironmentFile=` alike.

    `shlex.quote` leaves only `[A-Za-z0-9_@%+=:,./-]` unquoted and single-quotes the rest (`'` as
    `'"'"'`). systemd's env-file parser reads single quotes, double quotes and their concatenation
    the same way bash does, newlines inside quotes included (systemd src/basic/env-file.c,
    `parse_env_file_internal`), and expands no `$`.
    """
    _check_unicode(value, "a shell word")
    return Escaped(shlex.quote(value))


def text(value: str) -> Escaped:
    """A value shown in a comment or a systemd Description=: printable ASCII only.

    Anything else (line breaks, `\\`, non-ASCII) is written as a `\\xNN`/`\\uNNNN` escape, so it can
    neither end the comment's line nor continue it (systemd and bash join a line ending in `\\`).
    Comments are read by people only: the escape shows the value, it is never unescaped.
    """
    return Escaped("".join(char if " " <= char <= "~" and char != "\\" else _code(char) for char in value))


def unit_text(value: str) -> Escaped:
    """A free-text systemd unit setting (Description=): `text`, with `%` doubled (a specifier)."""
    return Escaped(text(value).replace("%", "%%"))


def unit_arg(value: str) -> Escaped:
    """One argument of a systemd `ExecStart=`-style command line.

    Double-quoted with C escapes (systemd unquotes and C-unescapes each word, load-fragment.c
    `config_parse_exec`), `%` doubled (specifiers) and `$` doubled (environment expansion); a
    quoted `;` is an argument, not a command separator. Plain words stay unquoted.
    """
    _check_unicode(value, "a systemd command argument")
    if _UNIT_PLAIN.fullmatch(value):
        return Escaped(value)
    escaped = "".join(
        "\\\\" if char == "\\" else '\\"' if char == '"' else char if " " <= char <= "~" else _bytes(char)
        for char in value
    )
    return Escaped('"' + escaped.replace("%", "%%").replace("$", "$$") + '"')


def _bytes(char: str) -> str:
    return "".join(f"\\x{byte:02x}" for byte in char.encode())


def _code(char: str) -> str:
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    return f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"


def nginx_path(value: str) -> Escaped:
    """A URI path as the argument of an nginx `location` (after `=` or alone, as a prefix).

    Plain paths stay unquoted; anything else is double-quoted with `\\` and `"` escaped (nginx
    unescapes exactly `\\"`, `\\'`, `\\\\`, `\\t`, `\\r`, `\\n` in quoted tokens, ngx_conf_read_token),
    so `;`, `{`, `}` and spaces stay inside the token. nginx reads a leading `=`, `~`, `^~` or `@`
    of a location's argument as a modifier even when quoted, so the path must start with `/`.
    """
    _check_unicode(value, "an nginx location path")
    if not value.startswith("/"):
        raise _refuse(value, "an nginx location path", "it must start with /")
    token = value if NGINX_PLAIN_PATH.fullmatch(value) else _nginx_quoted(value)
    if len(token.encode()) > NGINX_TOKEN_MAX:
        raise _refuse(value, "an nginx location path", f"nginx reads at most {NGINX_TOKEN_MAX} bytes")
    return Escaped(token)


def nginx_uri(value: str) -> Escaped:
    """A URI path appended to a `proxy_pass` URL: nginx interpolates `$` there and reads no quotes
    inside a token, so only plain paths can be written (the config's health-path grammar)."""
    _check_unicode(value, "an nginx proxy_pass path")
    if not NGINX_PLAIN_PATH.fullmatch(value):
        raise _refuse(value, "an nginx proxy_pass path", "only / letters digits and . _ ~ - are allowed")
    return Escaped(value)


def nginx_host(value: str) -> Escaped:
    """A host name as the argument of nginx's `server_name`: DNS names only, anything else is refused."""
    _check_unicode(value, "an nginx server name")
    if len(value) > 253 or not _HOST_NAME.fullmatch(value):
        raise _refuse(value, "an nginx server name", "a host name has only letters, digits, - and .")
    return Escaped(value)


def _nginx_quoted(value: str) -> str:
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\t", "\\t")
        .replace("\r", "\\r")
        .replace("\n", "\\n")
    )
    return f'"{escaped}"'


def yaml(value: str) -> Escaped:
    """A YAML double-quoted scalar: printable ASCII as is, everything else as an escape.

    PyYAML (cloud-init's parser) refuses raw control characters anywhere in a document and reads
    \\x85, \\u2028 and \\u2029 as line breaks; its double-quoted scalars unescape `\\xNN`, `\\uNNNN`
    and `\\UNNNNNNNN`.
    """
    _check_unicode(value, "a YAML scalar")
    escaped = "".join(
        "\\\\" if char == "\\" else '\\"' if char == '"' else char if " " <= char <= "~" else _code(char)
        for char in value
    )
    return Escaped(f'"{escaped}"')


def yaml_block(value: str, indent: int) -> Escaped:
    """A multi-line YAML value: a literal block (`|`) when it holds the text exactly, else `yaml`.

    The block is chosen only for text that ends in exactly one newline (clip chomping), whose
    first line starts with a visible character (no indentation indicator needed) and which holds
    no character YAML would refuse or read as a line break. The result goes right after `key: `;
    its lines are indented by `indent` spaces.
    """
    _check_unicode(value, "a YAML scalar")
    body = value[:-1]
    if not _block_safe(value, body):
        return yaml(value)
    pad = " " * indent
    lines = "\n".join(pad + line if line else line for line in body.split("\n"))
    return Escaped(f"|\n{lines}")


def _block_safe(value: str, body: str) -> bool:
    return (
        value.endswith("\n")
        and not body.endswith("\n")
        and body.lstrip("\n")[:1] not in ("", " ", "\t")
        and all(char in "\t\n" or (char.isprintable() and char not in _YAML_BREAKS) for char in body)
    )
