"""Real Terraform on stacks that need no provider: the plan applied is the plan shown, plans and state
stay private, a Ctrl-C stops Terraform gracefully with a message, and a moved backend is migrated.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from llmdeploy.cli.next_steps import Invocation
from llmdeploy.deploy import StackTarget, init_stack, stack_runner
from llmdeploy.errors import OperationError
from llmdeploy.terraform import TerraformRunner
from llmdeploy.terraform.backends import BACKENDS_DIR, configured_backend, write_backend
from tests.terraform.stacks import no_provider_stack, write_stack

pytestmark = pytest.mark.terraform


def _runner(folder: Path, binary: str, env: dict[str, str]) -> TerraformRunner:
    return TerraformRunner(folder, stack=folder.name, binary=binary, env=env)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_plan_replaced_between_show_and_apply_is_refused(
    tmp_path: Path, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> None:
    folder = write_stack(tmp_path / "dev-aws", no_provider_stack("approved"))
    runner = _runner(folder, terraform_binary, terraform_cli_env)
    runner.init()
    shown = runner.plan()  # what the user saw and approved
    # Meanwhile another shell (or CI) plans a different configuration in the same folder...
    write_stack(folder, no_provider_stack("never shown"))
    other = runner.plan()
    if other.plan_file != shown.plan_file:  # ... and its plan takes the place of the approved one.
        assert shown.plan_file is not None and other.plan_file is not None
        shown.plan_file.write_bytes(other.plan_file.read_bytes())
    with pytest.raises(OperationError) as caught:
        runner.apply_plan(shown)
    message = str(caught.value)
    assert "is not the plan that was shown" in message
    assert "Nothing was changed" in message
    assert runner.output() == {}  # nothing was applied
    runner.discard(other)
    assert list(folder.glob("*.tfplan")) == []


def test_saved_plans_and_local_state_are_private_and_plans_go_after_apply(
    tmp_path: Path, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> None:
    folder = write_stack(tmp_path / "dev-aws", no_provider_stack("first"))
    state = folder / "terraform.tfstate"
    runner = _runner(folder, terraform_binary, terraform_cli_env)
    runner.init()
    planned = runner.plan()
    assert planned.plan_file is not None and _mode(planned.plan_file) == 0o600
    runner.apply_plan(planned)
    assert not planned.plan_file.exists()
    assert _mode(state) == 0o600
    state.chmod(0o644)  # a state file from before (or from another tool) is narrowed too
    write_stack(folder, no_provider_stack("second"))
    runner.apply_plan(runner.plan())
    assert runner.output() == {"answer": "second"}
    assert (_mode(state), _mode(folder / "terraform.tfstate.backup")) == (0o600, 0o600)
    assert list(folder.glob("*.tfplan")) == []


def _slow_stack(marker: Path) -> dict[str, Any]:
    """`first` is created at once; `slow` takes a minute (a local-exec), long enough to interrupt."""
    return {
        "terraform": {"backend": {"local": {"path": "terraform.tfstate"}}},
        "resource": {
            "terraform_data": {
                "first": {"input": "x"},
                "slow": {
                    "input": "y",
                    "depends_on": ["terraform_data.first"],
                    "provisioner": [{"local-exec": {"command": f"touch {marker} && sleep 60"}}],
                },
            }
        },
    }


#: A program that applies a stack the way the CLI does and reports like the CLI's error handler.
DRIVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from llmdeploy.errors import LlmdeployError
    from llmdeploy.terraform import TerraformRunner

    runner = TerraformRunner(Path(sys.argv[1]), stack="dev-aws", binary=sys.argv[2])
    try:
        runner.apply()
    except LlmdeployError as error:
        print(error, file=sys.stderr)
        sys.exit(error.exit_code)
    """
)


def test_ctrl_c_stops_terraform_gracefully_and_says_what_to_run(
    tmp_path: Path, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> None:
    marker = tmp_path / "slow-started"
    folder = write_stack(tmp_path / "dev-aws", _slow_stack(marker))
    _runner(folder, terraform_binary, terraform_cli_env).init()
    env = {**terraform_cli_env, "PYTHONPATH": str(Path.cwd())}
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(folder), terraform_binary],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a terminal of its own: Ctrl-C goes to its whole process group
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert driver.poll() is None and time.monotonic() < deadline, "the apply never reached `slow`"
        time.sleep(0.2)
    started = time.monotonic()
    os.killpg(driver.pid, signal.SIGINT)  # Ctrl-C, pressed twice: the second must not kill Terraform
    time.sleep(0.5)
    os.killpg(driver.pid, signal.SIGINT)
    _, stderr = driver.communicate(timeout=60)
    message = " ".join(stderr.split())
    assert driver.returncode == 130, stderr
    assert time.monotonic() - started < 30  # stopped, not waited out
    assert "Interrupted: `" in message and "stack 'dev-aws' stopped gracefully" in message
    assert "Terraform saved the state" in message
    assert "Traceback" not in stderr
    saved = json.loads((folder / "terraform.tfstate").read_text(encoding="utf-8"))
    names = {resource["name"] for resource in saved["resources"]}
    assert "first" in names  # what finished before the Ctrl-C is in the state


def test_a_moved_backend_is_refused_then_migrated_with_the_printed_command(
    tmp_path: Path,
    terraform_binary: str,
    terraform_cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`state:` changes from one local file to another: Terraform would start the new one empty."""
    monkeypatch.chdir(tmp_path)
    for name, value in terraform_cli_env.items():
        monkeypatch.setenv(name, value)
    document = no_provider_stack("live")
    document["terraform"]["backend"]["local"]["path"] = "../../../old.tfstate"
    folder = write_stack(tmp_path / "cdktf.out" / "stacks" / "dev-aws", document)
    env = {**terraform_cli_env, "TF_DATA_DIR": str(tmp_path / ".llmdeploy" / "terraform" / "dev-aws")}
    runner = TerraformRunner(folder, stack="dev-aws", binary=terraform_binary, env=env)
    runner.init()
    runner.apply()
    old = configured_backend(folder)
    assert old is not None
    write_backend(BACKENDS_DIR, "dev-aws", old)

    document["terraform"]["backend"]["local"]["path"] = "../../../new/dev-aws.tfstate"
    write_stack(folder, document)
    recovery = Invocation("dev", local=True).recovery("llmdeploy apply dev --local", "dev-aws")
    target = StackTarget("dev-aws", None, stack_runner("dev-aws", Path("cdktf.out"), env, recovery), env)
    with pytest.raises(OperationError) as caught:
        init_stack(target)  # before Terraform runs: with its data folder gone it would plan the fleet anew
    message = str(caught.value)
    assert f"last applied with its state in the local file {tmp_path / 'old.tfstate'}" in message
    assert f"now puts it in the local file {tmp_path / 'new' / 'dev-aws.tfstate'}" in message
    assert "Run `llmdeploy state migrate dev-aws --local`" in message
    result = CliRunner().invoke(app, ["state", "migrate", "dev-aws", "--auto-approve"])
    assert result.exit_code == 0, result.stderr + result.stdout
    moved = TerraformRunner(folder, stack="dev-aws", binary=terraform_binary, env=env)
    assert moved.output() == {"answer": "live"}
    assert not moved.plan().has_changes
    assert (tmp_path / "old.tfstate").exists()  # the old copy is kept
    assert _mode(tmp_path / "new" / "dev-aws.tfstate") == 0o600
