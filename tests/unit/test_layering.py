"""The core runs without Node.js or any CDK package: importing and validating never loads them."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import EXAMPLE_VARIABLES, REPO

PROBE = """
import json, sys
from llmdeploy.cli import app
from typer.testing import CliRunner
result = CliRunner().invoke(app, ["validate", "dev", "prod", "--env-dir", "environments"])
assert result.exit_code == 0, result.output
CliRunner().invoke(app, ["explain", "prod", "--env-dir", "environments"])
forbidden = ("cdktn", "constructs", "jsii", "cdktn_provider_aws", "modules", "stacks")
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in forbidden)))
"""


def test_core_never_imports_cdk() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **EXAMPLE_VARIABLES},
        check=True,
    )
    assert json.loads(result.stdout) == []
