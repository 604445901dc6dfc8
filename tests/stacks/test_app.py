"""The app loads a cloud's provider bindings only when a stack on that cloud is built."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.synth

_PROBE = """
import json, sys
import llmdeploy.synth
core = sorted(m for m in sys.modules if m.split(".")[0] in {"cdktn", "constructs", "jsii"})
import stacks.app
providers = sorted(m for m in sys.modules if m.startswith("cdktn_provider"))
print(json.dumps({"core": core, "providers": providers}))
"""


def test_core_synth_imports_no_cdk_and_the_app_no_provider_until_needed() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert loaded == {"core": [], "providers": []}
