"""A rollback interrupted after a failed gate is finished when the user runs the command again: the
release whose gate failed never gets traffic back.

The deploy step is the CLI's apply of every stack; here it only counts calls and records the
weights it would apply, which is all these rules are about (the e2e tests apply for real).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from llmdeploy.errors import OperationError
from llmdeploy.release import promotion
from llmdeploy.release.config_edit import edit_slots
from llmdeploy.release.gates import GatePolicy, SystemClock
from llmdeploy.release.observer import DeployedStack
from llmdeploy.release.promotion import ReleaseContext
from llmdeploy.release.record import PromotionRecord, read_record, record_path, write_record
from tests.conftest import EXAMPLES

GATE_FAILED = "gate failed at 10%: error rate 12.0% > 5.0%"
POLICY = GatePolicy(min_healthy=1, max_error_rate_percent=5, timeout_s=1, pause_s=0, poll_s=1)


class Deployments:
    """The weights in the file each time the environment is deployed."""

    def __init__(self, env_path: Path) -> None:
        self.env_path = env_path
        self.applied: list[dict[str, int]] = []

    def __call__(self, new_images: Sequence[str] = ()) -> Sequence[DeployedStack]:
        config = yaml.safe_load(self.env_path.read_text(encoding="utf-8"))
        self.applied.append({slot: entry["weight"] for slot, entry in config["models"][0]["slots"].items()})
        return []


@pytest.fixture
def context(tmp_path: Path, example_vars: dict[str, str]) -> ReleaseContext:
    shutil.copytree(EXAMPLES, tmp_path / "environments")
    env_path = tmp_path / "environments" / "dev.yaml"
    return ReleaseContext(
        env_path,
        "chat",
        Deployments(env_path),
        tmp_path / "promotions",
        lambda text: None,
        lambda verb, *args: " ".join(["llmdeploy", verb, "dev", *args, "--local"]),
    )


@pytest.mark.parametrize("file_step", [10, 0], ids=["before-the-edit", "after-the-edit"])
def test_promote_after_an_interrupted_rollback_finishes_it_and_never_promotes(
    context: ReleaseContext, file_step: int
) -> None:
    """The gate failed at 10%; Ctrl-C came during the rollback, before or after its file edit."""
    edit_slots(context.env_path, "chat", {"blue": 100 - file_step, "green": file_step})
    path = record_path(context.records_dir, "dev", "chat")
    failed = PromotionRecord(
        "dev", "chat", "blue", "green", "rolling-back", steps_done=(), reason=GATE_FAILED
    )
    write_record(path, failed)

    with pytest.raises(OperationError) as caught:
        promotion.promote(context, [10, 50, 100], POLICY, SystemClock())
    message = str(caught.value)
    assert "Did not promote chat to green" in message
    assert GATE_FAILED in message
    assert "`llmdeploy promote dev --model chat --local`" in message
    deployed = context.deploy
    assert isinstance(deployed, Deployments)
    assert deployed.applied == [{"blue": 100, "green": 0}]  # the rollback, and nothing else
    record = read_record(path, "dev", "chat")
    assert record is not None and (record.state, record.reason) == ("rolled-back", GATE_FAILED)


def test_rollback_continuing_a_failed_gate_keeps_its_verdict(context: ReleaseContext) -> None:
    path = record_path(context.records_dir, "dev", "chat")
    write_record(path, PromotionRecord("dev", "chat", "blue", "green", "rolling-back", reason=GATE_FAILED))
    assert promotion.rollback(context, None) == "blue"
    record = read_record(path, "dev", "chat")
    assert record is not None and (record.state, record.reason) == ("rolled-back", GATE_FAILED)
