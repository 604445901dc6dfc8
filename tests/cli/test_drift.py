"""`llmdeploy drift`: a stack changed behind Terraform's back is reported, with plan's exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from llmdeploy.cli.drift_commands import DriftRow, check_stack, report
from llmdeploy.terraform import TerraformRunner
from tests.fixtures_aws import AwsClient
from tests.terraform.stacks import vpc_only_stack, write_stack


def _vpc_id(aws_client: AwsClient, name: str) -> str:
    found = aws_client("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])
    return str(found["Vpcs"][0]["VpcId"])


@pytest.mark.terraform
def test_out_of_band_change_is_drift_and_exits_2(
    tmp_path: Path,
    terraform_binary: str,
    terraform_env: dict[str, str],
    aws_client: AwsClient,
    unique_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = write_stack(tmp_path / "drift-aws", vpc_only_stack(unique_name))
    runner = TerraformRunner(folder, stack="drift-aws", binary=terraform_binary, env=terraform_env)
    runner.init()
    runner.apply()  # left in the session's emulator, which goes with it
    in_sync = check_stack("drift-aws", runner)
    assert (in_sync.state, in_sync.changes) == ("in sync", "")
    assert report([in_sync]) == 0

    vpc = _vpc_id(aws_client, unique_name)
    aws_client("ec2").create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "edited-by-hand"}])
    drifted = check_stack("drift-aws", runner)
    assert drifted.state == "drifted"
    assert drifted.changes == "0 to add, 1 to change, 0 to destroy"
    capsys.readouterr()
    assert report([in_sync, drifted]) == 2
    table = " ".join(capsys.readouterr().out.split())
    assert "│ drift-aws │ drifted │ 0 to add, 1 to change, 0 to destroy │" in table


def test_a_stack_that_cannot_be_planned_is_an_error_and_wins(
    tmp_path: Path, terraform_binary: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = TerraformRunner(tmp_path / "never-synthesized", stack="gone-aws", binary=terraform_binary)
    failed = check_stack("gone-aws", missing)
    assert failed.state == "error"
    assert report([failed, DriftRow("other-aws", error=None, summary=None)]) == 1
    captured = capsys.readouterr()
    assert "gone-aws: Cannot run `terraform init` for stack 'gone-aws'" in captured.err
    assert "Synthesize the stack first." in captured.err


def test_unknown_environment_is_an_error_row_exit_1_not_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "environments").mkdir()
    result = CliRunner().invoke(app, ["drift", "nope"])
    assert result.exit_code == 1  # never 2: a pipeline would read that as drift
    assert "│ nope │ error │" in " ".join(result.stdout.split())
    assert "no environment 'nope'" in result.stderr
