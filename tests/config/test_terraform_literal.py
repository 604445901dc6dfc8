"""`terraform_literal`: free text that Terraform reads back exactly as written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from modules.common import terraform_literal

TEXTS = ['exec "${args[@]}"', "%{ if true }x%{ endif }", "$${already} %%{escaped}", "plain $HOME 100%"]


def test_interpolations_and_directives_are_escaped() -> None:
    assert terraform_literal("a ${b} %{ if c } $x %d") == "a $${b} %%{ if c } $x %d"


@pytest.mark.terraform
def test_terraform_evaluates_escaped_text_to_the_original(
    tmp_path: Path, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> None:
    outputs = {f"t{index}": {"value": terraform_literal(text)} for index, text in enumerate(TEXTS)}
    (tmp_path / "main.tf.json").write_text(json.dumps({"output": outputs}), encoding="utf-8")
    run = {"cwd": tmp_path, "env": terraform_cli_env, "capture_output": True, "text": True, "check": True}
    subprocess.run([terraform_binary, "init", "-input=false", "-no-color"], **run)  # type: ignore[call-overload]
    subprocess.run([terraform_binary, "apply", "-auto-approve", "-input=false", "-no-color"], **run)  # type: ignore[call-overload]
    shown = subprocess.run([terraform_binary, "output", "-json"], **run)  # type: ignore[call-overload]
    values = {name: entry["value"] for name, entry in json.loads(shown.stdout).items()}
    assert values == {f"t{index}": text for index, text in enumerate(TEXTS)}
