"""`terraform validate` on every synthesized AWS stack, with the provider from the local mirror."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.fixtures_synth import Stack

#: Phrases of `terraform init` failing to obtain a provider at all (no mirror, no registry).
_NO_PROVIDER = ("Failed to query available provider packages", "Failed to install provider")


def test_every_aws_stack_is_valid_terraform(
    aws_stacks: dict[str, Stack], terraform_binary: str, terraform_cli_env: dict[str, str]
) -> None:
    problems = {}
    for stack in aws_stacks.values():
        init = subprocess.run(
            [terraform_binary, "init", "-backend=false", "-input=false", "-no-color"],
            cwd=stack.folder,
            env=terraform_cli_env,
            capture_output=True,
            text=True,
            check=False,
        )
        if init.returncode != 0 and any(phrase in init.stderr for phrase in _NO_PROVIDER):
            pytest.skip(f"no hashicorp/aws provider can be installed here: {init.stderr.strip()[-300:]}")
        assert init.returncode == 0, init.stderr
        validate = subprocess.run(
            [terraform_binary, "validate", "-json", "-no-color"],
            cwd=stack.folder,
            env=terraform_cli_env,
            capture_output=True,
            text=True,
            check=False,
        )
        result = json.loads(validate.stdout)
        if not result["valid"] or result["warning_count"]:
            problems[stack.name] = [d["summary"] + ": " + d.get("detail", "") for d in result["diagnostics"]]
    assert problems == {}
