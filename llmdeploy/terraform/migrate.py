"""Move a stack's state to the backend its environment now names (`llmdeploy state migrate`)."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

from llmdeploy.errors import OperationError
from llmdeploy.synth import STACK_FILE
from llmdeploy.terraform.backends import Backend, describe
from llmdeploy.terraform.runner import TerraformRunner


def copy_state(runner: TerraformRunner, old: Backend) -> int:
    """Copy the state held by `old` into `runner`'s configured backend; return its resource count.

    The old copy is left where it is. Terraform's `state push` refuses to overwrite a state of
    another lineage, so a new backend that already holds a different stack is never clobbered.
    """
    with tempfile.TemporaryDirectory(prefix="llmdeploy-migrate-") as folder:
        source = runner.elsewhere(Path(folder))
        (Path(folder) / STACK_FILE).write_text(json.dumps({"terraform": {"backend": old}}), encoding="utf-8")
        source.init()
        document = source.pull_state()
    resources = _resources(document)
    if resources is None:
        raise OperationError(
            f"Stack '{runner.stack}' has no state in {describe(old)}, where it was last applied: nothing "
            "to migrate. If it moved elsewhere, point `state:` there."
        )
    runner.init(reconfigure=True)
    state_file = runner.stack_dir / f".llmdeploy-migrate-{secrets.token_hex(8)}.tfstate"
    descriptor = os.open(state_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds secrets
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(document)
        runner.push_state(state_file)
    finally:
        state_file.unlink(missing_ok=True)
    return resources


def _resources(document: str) -> int | None:
    try:
        state = json.loads(document)
    except ValueError:
        return None
    return len(state.get("resources") or []) if isinstance(state, dict) else None
