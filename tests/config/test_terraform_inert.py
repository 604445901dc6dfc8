"""Values a grammar accepts although they hold punctuation reach Terraform unchanged and inert:
one AWS stack synthesized from them passes `terraform validate` with the real provider."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from llmdeploy.plan.endpoints import stack_dir
from llmdeploy.synth import STACK_FILE, synth

pytestmark = [pytest.mark.synth, pytest.mark.terraform]

#: The most punctuation each grammar admits, where Terraform or a rendered file could see it.
TAG_VALUE = "ml team/inference @ 2026 +x=y:z"
ENVIRONMENT = f"""\
project: inert
tags: {{"cost:center@x": "{TAG_VALUE}", "a+b=c.d_e-f": ""}}
clouds:
  aws: {{region: us-east-1, zones: [us-east-1a, us-east-1b]}}
monitoring: {{notify: {{emails: [first.last+alerts@example.co.uk]}}}}
models:
  - name: chat
    model_id: Org_1.x/Name.v2-x_y
    revision: refs/pr/12
    engine_image: registry.example.com:5000/team/tgi_x.y-z:3.3.6@sha256:{"a" * 64}
    params_billion: 0.5
    hf_token: {{secret: team/llm_x+y=z.w@v-tok}}
    instance_types: {{aws: [g6.xlarge]}}
    health_check: {{path: /v1/health_check.~x}}
"""


def test_accepted_punctuation_reaches_terraform_unchanged_and_valid(
    tmp_path: Path, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> None:
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "inert.yaml").write_text(ENVIRONMENT, encoding="utf-8")
    synth(["inert"], env_dir=Path("environments"), outdir=Path("cdktf.out"), project_dir=tmp_path)
    folder = stack_dir(tmp_path / "cdktf.out", "inert-aws")
    text = (folder / STACK_FILE).read_text(encoding="utf-8")
    assert TAG_VALUE in text
    assert json.dumps("team/llm_x+y=z.w@v-tok")[1:-1] in text
    run = {"cwd": folder, "env": terraform_cli_env, "capture_output": True, "text": True, "check": False}
    init = subprocess.run([terraform_binary, "init", "-backend=false", "-input=false", "-no-color"], **run)  # type: ignore[call-overload]
    assert init.returncode == 0, init.stderr
    validate = subprocess.run([terraform_binary, "validate", "-json", "-no-color"], **run)  # type: ignore[call-overload]
    result = json.loads(validate.stdout)
    assert result["valid"], result["diagnostics"]
