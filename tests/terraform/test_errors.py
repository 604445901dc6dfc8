"""Failures come back as one readable paragraph: stack, Terraform's cause, next step.

None of these needs the emulator; the ones running Terraform use stacks without
providers (or a provider version the mirror lacks), so they never reach a network.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmdeploy.errors import OperationError
from llmdeploy.terraform import TerraformRunner
from tests.terraform.stacks import aws_preamble, no_provider_stack, write_stack

LOCK_INFO = ".terraform.tfstate.lock.info"


def _one_paragraph(message: str) -> None:
    assert "\n" not in message
    assert "Traceback" not in message


def test_missing_binary_names_stack_and_next_step(tmp_path: Path) -> None:
    folder = write_stack(tmp_path / "dev-aws", no_provider_stack())
    runner = TerraformRunner(folder, stack="dev-aws", binary="terraform-not-installed-xyz")
    with pytest.raises(OperationError) as caught:
        runner.init()
    message = str(caught.value)
    _one_paragraph(message)
    assert "'dev-aws'" in message
    assert "terraform-not-installed-xyz" in message
    assert "Install Terraform >= 1.10" in message
    assert "LLMDEPLOY_TERRAFORM_BINARY" in message


def test_missing_stack_folder_says_synthesize_first(tmp_path: Path, terraform_binary: str) -> None:
    runner = TerraformRunner(tmp_path / "nope", stack="nope", binary=terraform_binary)
    with pytest.raises(OperationError, match="Synthesize the stack first"):
        runner.plan()


@pytest.mark.terraform
def test_invalid_config_reports_terraforms_own_words(
    tmp_path: Path, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> None:
    folder = write_stack(tmp_path / "bad-aws", no_provider_stack("${var.not_declared}"))
    runner = TerraformRunner(folder, stack="bad-aws", binary=terraform_binary, env=terraform_cli_env)
    runner.init()
    with pytest.raises(OperationError) as caught:
        runner.plan()
    message = str(caught.value)
    _one_paragraph(message)
    assert "'bad-aws'" in message
    assert "Reference to undeclared input variable" in message
    assert "not_declared" in message
    assert "run plan again" in message


@pytest.mark.terraform
def test_uninstallable_provider_points_at_the_mirror(
    tmp_path: Path, terraform_binary: str, terraform_cli_env: dict[str, str], provider_mirror: Path
) -> None:
    document = aws_preamble()
    document["terraform"]["required_providers"]["aws"]["version"] = "9.9.9"
    folder = write_stack(tmp_path / "old-aws", document)
    runner = TerraformRunner(folder, stack="old-aws", binary=terraform_binary, env=terraform_cli_env)
    with pytest.raises(OperationError) as caught:
        runner.init()
    message = str(caught.value)
    _one_paragraph(message)
    assert "'old-aws'" in message
    assert "could not install a provider" in message
    assert str(provider_mirror) in message
    assert "LLMDEPLOY_PROVIDER_MIRROR" in message


@pytest.fixture
def lock_holder(
    tmp_path: Path, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> Iterator[tuple[Path, str]]:
    """A stack whose state lock is held by a real, idle `terraform console`.

    The console takes the state lock when it starts and keeps it while it waits for
    input: waiting for the lock-info file makes the test deterministic.
    """
    folder = write_stack(tmp_path / "locked-aws", no_provider_stack())
    TerraformRunner(folder, stack="locked-aws", binary=terraform_binary, env=terraform_cli_env).init()
    console = subprocess.Popen(
        [terraform_binary, "console"],
        cwd=folder,
        env=terraform_cli_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock_id = _wait_for_lock(folder / LOCK_INFO)
        yield folder, lock_id
    finally:
        assert console.stdin is not None
        console.stdin.close()  # end of input: the console exits and releases the lock
        try:
            console.wait(timeout=30)
        except subprocess.TimeoutExpired:
            console.kill()
            console.wait()


def _wait_for_lock(info: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return str(json.loads(info.read_text())["ID"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    raise AssertionError(f"terraform console did not take the lock ({info} never appeared)")


@pytest.mark.terraform
def test_held_lock_is_explained_with_force_unlock(
    lock_holder: tuple[Path, str], terraform_binary: str, terraform_cli_env: dict[str, str]
) -> None:
    folder, lock_id = lock_holder
    runner = TerraformRunner(folder, stack="locked-aws", binary=terraform_binary, env=terraform_cli_env)
    with pytest.raises(OperationError) as caught:
        runner.plan()
    message = str(caught.value)
    _one_paragraph(message)
    assert "'locked-aws'" in message
    assert "Error acquiring the state lock" in message
    assert "Another run holds the lock" in message
    assert f"`{terraform_binary} force-unlock {lock_id}`" in message
    assert "-lock=false" not in message  # Terraform's own advice, wrong here
