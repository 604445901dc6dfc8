"""Checks the GCP and Azure stack tests share: checkov, terraform validate, leaks.

The same rules as the AWS ones (tests/stacks/): checkov finds nothing that is not skipped in code
with a reason, `terraform validate` passes wherever the providers install, no secret reaches any
file. Golden address snapshots come from tests/stacks/golden.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from llmdeploy.ci.checkov import Scan, scan
from tests.fixtures_synth import Stack
from tests.tools import checkov

#: Credential shapes that must never reach synthesized output: Hugging Face tokens, Google API keys,
#: private keys (the Azure admin key stays in state), literal bearer tokens.
SECRET_SHAPES = re.compile(
    r"hf_[A-Za-z0-9]{30,}|AIza[0-9A-Za-z_-]{35}|-----BEGIN [A-Z ]*PRIVATE KEY|Bearer [A-Za-z0-9]"
)
#: Terraform's words when it cannot download a provider (offline, registry unreachable).
_NOT_INSTALLABLE = (
    "could not connect to registry",
    "Failed to query available provider packages",
    "Failed to install provider",
)
_INIT_TIMEOUT_S = 600


def checkov_report(stacks: dict[str, Stack]) -> Scan:
    """checkov over the folder holding `stacks`, with the in-code skips applied."""
    binary = checkov()
    if binary is None:
        pytest.skip("checkov is not installed (scripts/setup puts it in .venv-checkov)")
    return scan(binary, next(iter(stacks.values())).folder.parent)


def validate(stack: Stack, terraform: str, env: dict[str, str], workdir: Path) -> dict[str, object]:
    """`terraform validate -json` of `stack` (no backend); skips when its providers cannot be installed."""
    folder = workdir / stack.name
    shutil.copytree(stack.folder, folder)
    init = subprocess.run(
        [terraform, "init", "-backend=false", "-input=false", "-no-color"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=_INIT_TIMEOUT_S,
        check=False,
    )
    if init.returncode != 0:
        output = init.stdout + init.stderr
        if any(words in output for words in _NOT_INSTALLABLE):
            providers = sorted(stack.doc["terraform"]["required_providers"])
            pytest.skip(
                f"{stack.name}: providers {', '.join(providers)} cannot be installed here "
                "(no local mirror holds "
                "them and the registry is unreachable); the CI pipeline, which can download them, runs this"
            )
        raise AssertionError(f"terraform init failed for {stack.name}:\n{output[-3000:]}")
    done = subprocess.run(
        [terraform, "validate", "-json", "-no-color"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def leaks(texts: Iterable[str]) -> list[str]:
    """The start of every credential-shaped string in `texts`."""
    return [match.group(0)[:12] for text in texts for match in SECRET_SHAPES.finditer(text)]
