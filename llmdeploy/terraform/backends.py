"""Where a stack's state lived when llmdeploy last applied it, kept outside Terraform's data folder.

Terraform remembers a stack's backend only in its data folder. When `state:` changes (the README
moves CI users to s3) or that folder is deleted, Terraform either refuses to init ("Backend
configuration changed") or, once the folder is gone, starts from an empty state and plans to
create the whole live fleet again. This record, one small JSON file per stack in the project
folder, lets llmdeploy notice the move before Terraform runs and copy the state across.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmdeploy.atomic_write import write_atomically
from llmdeploy.synth import STACK_FILE

#: Backend records live in the project folder, beside Terraform's data (which they outlive).
BACKENDS_DIR = Path(".llmdeploy") / "backends"

Backend = dict[str, Any]


def configured_backend(stack_dir: Path) -> Backend | None:
    """The synthesized stack's `terraform.backend` block, a local path made absolute.

    Absolute, because the same file is spelled differently from another --out folder.
    """
    try:
        document = json.loads((stack_dir / STACK_FILE).read_text(encoding="utf-8"))
        backend = document["terraform"]["backend"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(backend, dict):
        return None
    local = backend.get("local")
    if isinstance(local, dict) and isinstance(local.get("path"), str):
        return {"local": {**local, "path": str((stack_dir / local["path"]).resolve())}}
    return backend


def describe(backend: Backend) -> str:
    """One backend in a few words: `local file /x/y.tfstate`, `s3 bucket/key`..."""
    (kind, settings), *_ = backend.items()
    if kind == "local":
        return f"the local file {settings.get('path')}"
    place = settings.get("key") or settings.get("prefix") or ""
    container = settings.get("bucket") or settings.get("container_name") or ""
    return f"{kind} {container}/{place}".rstrip("/")


def read_backend(records_dir: Path, stack: str) -> Backend | None:
    """The backend `stack` was last applied with; None when unknown (or unreadable: then the
    check is skipped, since Terraform's own backend check still guards the move)."""
    try:
        found = json.loads((records_dir / f"{stack}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    backend = found.get("backend") if isinstance(found, dict) else None
    return backend if isinstance(backend, dict) and len(backend) == 1 else None


def write_backend(records_dir: Path, stack: str, backend: Backend) -> None:
    write_atomically(records_dir / f"{stack}.json", json.dumps({"backend": backend}, indent=2) + "\n")
