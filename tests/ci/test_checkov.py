"""`llmdeploy ci checkov`: the pipelines' checkov gate honours skips recorded next to a resource."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.ci.checkov import find_checkov
from llmdeploy.cli import app
from tests.conftest import REPO

REASON = "alarm notifications carry no data worth encrypting with a customer key"


def _topic(skips: list[dict[str, str]]) -> dict[str, object]:
    topic: dict[str, object] = {"name": "alerts"}
    if skips:
        topic["//"] = {"checkov": {"skip": skips}}
    return {"resource": {"aws_sns_topic": {"alerts": topic}}}


@pytest.mark.process
def test_unskipped_failures_fail_and_recorded_skips_pass(tmp_path: Path) -> None:
    checkov = find_checkov(REPO)
    if checkov is None:
        pytest.skip("checkov is not installed (scripts/setup puts it in .venv-checkov)")
    for stack, skips in (("plain-aws", []), ("skipped-aws", [{"id": "CKV_AWS_26", "comment": REASON}])):
        (tmp_path / stack).mkdir()
        (tmp_path / stack / "cdk.tf.json").write_text(json.dumps(_topic(skips)), encoding="utf-8")
    result = CliRunner().invoke(app, ["ci", "checkov", str(tmp_path), "--checkov", checkov])
    assert result.exit_code == 1
    assert "FAILED CKV_AWS_26 on resource.alerts (plain-aws/cdk.tf.json)" in result.stderr
    assert "skipped-aws" not in result.stderr
    assert f"skipped CKV_AWS_26 on resource.alerts: {REASON}" in result.stdout
    assert "1 failed, 1 skipped" in result.stdout


def test_no_synthesized_stacks_says_to_synth(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ci", "checkov", str(tmp_path / "none"), "--checkov", "checkov"])
    assert result.exit_code == 1
    assert "Run `llmdeploy synth ENV...` first." in result.stderr
