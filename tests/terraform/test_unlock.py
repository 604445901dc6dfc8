"""A lock left in S3 by a killed run: the lock error names `llmdeploy state unlock`, which releases it.

Terraform's own advice (`terraform force-unlock`) fails when run by hand: the stack's Terraform
data lives in .llmdeploy/terraform/<stack>, not in the stack folder. (A local state's lock is an
OS file lock, released when its process dies, so only remote backends keep stale locks.)
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from llmdeploy.cli.next_steps import Invocation
from llmdeploy.deploy import stack_runner
from llmdeploy.emulator import EmulatorHandle
from llmdeploy.errors import OperationError
from tests.fixtures_aws import AwsClient
from tests.terraform.stacks import no_provider_stack, write_stack

pytestmark = pytest.mark.terraform


def test_a_stale_s3_lock_is_released_with_the_command_the_error_prints(
    tmp_path: Path,
    terraform_env: dict[str, str],
    emulator: EmulatorHandle,
    aws_client: AwsClient,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in terraform_env.items():
        monkeypatch.setenv(name, value)
    aws_client("s3").create_bucket(Bucket=unique_name)
    document = no_provider_stack("locked")
    document["terraform"]["backend"] = {
        "s3": {
            "bucket": unique_name,
            "key": "llmdeploy/dev-aws.tfstate",
            "region": "us-east-1",
            "use_lockfile": True,
            "use_path_style": True,
            "endpoints": {"s3": emulator.endpoint_url},
            "skip_credentials_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
        }
    }
    write_stack(tmp_path / "cdktf.out" / "stacks" / "dev-aws", document)
    recovery = Invocation("dev").recovery("llmdeploy apply dev", "dev-aws")
    runner = stack_runner("dev-aws", Path("cdktf.out"), dict(terraform_env), recovery)
    runner.init()
    # What a run killed while holding the lock leaves behind: Terraform's lock file next to the state.
    stale = {
        "ID": "5b3c5e0e-0000-4000-8000-00000000dead",
        "Operation": "OperationTypeApply",
        "Who": "ci@runner",
    }
    stale |= {
        "Version": "1.11.4",
        "Created": "2026-12-01T10:00:00Z",
        "Path": f"{unique_name}/llmdeploy/dev-aws.tfstate",
    }
    aws_client("s3").put_object(
        Bucket=unique_name, Key="llmdeploy/dev-aws.tfstate.tflock", Body=json.dumps(stale)
    )

    with pytest.raises(OperationError) as caught:
        runner.plan()
    message = " ".join(str(caught.value).split())
    assert "Another run holds the lock" in message and "held by ci@runner" in message
    printed = re.search(r"release it with `llmdeploy (state unlock [^`]+)`", message)
    assert printed, message
    assert shlex.split(printed.group(1)) == ["state", "unlock", "dev-aws", stale["ID"]]

    result = CliRunner().invoke(app, [*shlex.split(printed.group(1)), "--auto-approve"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"lock {stale['ID']} released" in result.stdout
    planned = runner.plan()
    assert planned.has_changes  # the lock is gone: Terraform plans again
    runner.discard(planned)
