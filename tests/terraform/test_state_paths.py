"""Local state: every stack of an environment gets a file of its own, whatever `state.path` says.

Two stacks sharing one state file plan to destroy each other's resources (the `-global` stack of
an environment planned "59 to destroy" for the AWS stack's resources), so a path that cannot be
made per stack is refused before anything runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from llmdeploy.config.environment import LocalState
from llmdeploy.config.loader import load_environment
from llmdeploy.plan.build import build_plan
from tests.release.environments import THREE_CLOUDS

GLOBAL_DNS = "global_dns: {zone: example.com, name: api}\n"


def _stacks(tmp_path: Path, state: str) -> tuple[LocalState, list[str]]:
    path = tmp_path / "multi.yaml"
    path.write_text(f"state: {state}\n" + THREE_CLOUDS + GLOBAL_DNS, encoding="utf-8")
    plan = build_plan(load_environment(path))
    assert plan.global_dns is not None and isinstance(plan.state, LocalState)
    return plan.state, [cloud.stack for cloud in plan.clouds] + [plan.global_dns.stack]


@pytest.mark.parametrize(
    ("state", "expected_global"),
    [
        ("{backend: local}", "terraform.multi-global.tfstate"),
        ("{backend: local, path: state/}", "state/terraform.multi-global.tfstate"),
        ('{backend: local, path: "/srv/tf/{stack}.tfstate"}', "/srv/tf/multi-global.tfstate"),
        ('{backend: local, path: "state/{stack}/terraform.tfstate"}', "state/multi-global/terraform.tfstate"),
    ],
)
def test_every_stack_has_its_own_state_file(tmp_path: Path, state: str, expected_global: str) -> None:
    local, stacks = _stacks(tmp_path, state)
    files = [local.file_for(stack) for stack in stacks]
    assert len(stacks) == 4
    assert len(set(files)) == len(files), files
    assert files[-1] == expected_global


def test_a_path_shared_by_every_stack_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = "state: {backend: local, path: state/terraform.tfstate}\n"
    (tmp_path / "multi.yaml").write_text(shared + THREE_CLOUDS + GLOBAL_DNS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["plan", "multi", "--env-dir", "."])
    message = " ".join(result.stderr.split())
    assert result.exit_code == 2
    assert "state.path" in message
    assert "'state/terraform.tfstate' would hold the state of every stack" in message
    assert "state/{stack}.tfstate" in message
    assert not (tmp_path / "cdktf.out").exists()
