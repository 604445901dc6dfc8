"""User data reaches the VM unchanged through Terraform, which reads every string as a template.

The GCP construct passes the cloud-config text through `modules.common.terraform_literal`. A
provider-free configuration (outputs only, JSON syntax as CDK Terrain writes it) is applied by
the real terraform binary, and each output must read back exactly the text the cloud should get.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from llmdeploy.boot import boot_files, user_data
from llmdeploy.boot.bundle import CLOUD_CONFIG
from modules.common import terraform_literal
from tests.boot.bundles import every_fleet, plan
from tests.fixtures_aws import terraform_binary

__all__ = ["terraform_binary"]

HOSTILE = [
    "${args[@]}", "$${x}", "$$${x}", "%{ if true }x%{ endif }", "%%{x}", "$", "%", "${", "%{", "$${",
    "a$b{c}", "${var.x}%{for x in y}", "\\${x}", "$\n{x}", "${${x}}",
]  # fmt: skip


@pytest.mark.terraform
def test_terraform_reads_back_every_gcp_user_data_and_hostile_text(
    terraform_binary: str, tmp_path: Path
) -> None:
    gcp = [(env, fleet) for env, fleet in every_fleet() if fleet.cloud == "gcp"]
    expected = {
        f"user_data_{index}": boot_files(plan(env), fleet)[CLOUD_CONFIG]
        for index, (env, fleet) in enumerate(gcp)
    }
    literals = {
        f"user_data_{index}": terraform_literal(user_data(plan(env), fleet))
        for index, (env, fleet) in enumerate(gcp)
    }
    for index, text in enumerate(HOSTILE):
        expected[f"hostile_{index}"] = text
        literals[f"hostile_{index}"] = terraform_literal(text)
    config = {"output": {name: {"value": value} for name, value in literals.items()}}
    (tmp_path / "main.tf.json").write_text(json.dumps(config))

    def terraform(*args: str) -> str:
        return subprocess.run(
            [terraform_binary, *args], cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout

    terraform("init", "-input=false", "-no-color")
    terraform("apply", "-input=false", "-auto-approve", "-no-color")
    outputs = json.loads(terraform("output", "-json"))
    assert {name: output["value"] for name, output in outputs.items()} == expected
    assert any("${args[@]}" in text for text in expected.values())  # the case that broke GCP plans
