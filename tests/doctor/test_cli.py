"""`llmdeploy doctor` as a user runs it, on the example environments, AWS pointed at the emulator."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from tests.conftest import EXAMPLES
from tests.fixtures_aws import AwsClient


def _doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["doctor", *args, "--env-dir", str(EXAMPLES)], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_a_missing_secret_fails_and_quotas_the_emulator_cannot_tell_are_unknown(
    aws_env: dict[str, str], aws_client: AwsClient
) -> None:
    code, output = _doctor("dev", "--json", env=aws_env)
    found = {check["name"]: check for check in json.loads(output)["checks"]}
    hf = found["secret llmdeploy/dev/hf-token (models.chat.hf_token)"]
    assert code == 1 and hf["status"] == "fail"
    assert "Secrets Manager in us-east-1 has no secret llmdeploy/dev/hf-token" in hf["detail"]
    spot = found["quota L-3819A6DF (All G and VT Spot Instance Requests)"]
    assert spot["status"] == "unknown"
    assert found["Elastic IPs (one per zone for the NAT gateways)"]["status"] in ("ok", "fail")


def test_the_table_names_each_check_and_its_result(
    aws_env: dict[str, str], aws_client: AwsClient, tmp_path: Path
) -> None:
    name = f"llmdeploy/dev/{uuid.uuid4().hex[:6]}/hf-token"
    aws_client("secretsmanager").create_secret(Name=name, SecretString='{"token": "hf_x"}')
    dev = (EXAMPLES / "dev.yaml").read_text(encoding="utf-8").replace("llmdeploy/dev/hf-token", name)
    (tmp_path / "dev.yaml").write_text(dev, encoding="utf-8")
    (tmp_path / "base.yaml").write_text(
        (EXAMPLES / "base.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["doctor", "dev", "--env-dir", str(tmp_path)], env=aws_env)
    assert result.exit_code == 1
    assert f"secret {name}" in result.output and "fail" in result.output
    assert "JSON object" in result.output and "hf_x" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dev", "--cloud", "gcp"), "environment 'dev' has no gcp cloud"),
        (("prod", "--local"), "--local emulates AWS only"),
    ],
)
def test_bad_input_exits_2(args: tuple[str, ...], message: str, example_vars: dict[str, str]) -> None:
    code, output = _doctor(*args)
    assert code == 2 and message in output and "Traceback" not in output


def test_local_without_a_running_emulator_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = _doctor("dev", "--local")
    assert code == 1 and "llmdeploy local up" in output
