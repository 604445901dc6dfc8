"""Read one secret from the cloud's secret store with the instance identity, and write root-only files.

Secrets are plain strings (a Hugging Face token, an API key). A secret created as key/value JSON (the
Secrets Manager console's default) is refused with a message saying so, and one trailing newline
(`echo KEY | gcloud secrets create --data-file=-`) is dropped. Messages name the secret, never its value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .metadata import Metadata, cloud_module

#: /run/llmdeploy: files inside are root-only (0600); the directory may be searched, so the proxy
#: container's unprivileged nginx workers can see whether the drain flag exists.
RUN_DIR_MODE = 0o711


class SecretError(Exception):
    """A secret that cannot be used; the message names it and says what to do, without its value."""


def fetch(cloud: str, name: str, metadata: Metadata) -> str:
    """The plain-string value of secret `name`.

    Raises:
        SecretError: the secret holds JSON, several lines, or nothing.
        OSError: the secret store could not be read.
    """
    return plain(name, cloud_module(cloud).fetch_secret(name, metadata))


def plain(name: str, raw: str) -> str:
    value = raw[:-2] if raw.endswith("\r\n") else raw.removesuffix("\n")
    if _is_json_document(value):
        raise SecretError(
            f"secret {name!r} holds JSON (a key/value secret); store the bare value as plain text instead"
        )
    if not value.strip() or any(char in value for char in "\r\n"):
        raise SecretError(f"secret {name!r} is empty or spans several lines; store one line of plain text")
    return value


def _is_json_document(value: str) -> bool:
    if not value.lstrip().startswith(("{", "[", '"')):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by root only."""
    path.parent.mkdir(mode=RUN_DIR_MODE, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    partial.replace(path)
