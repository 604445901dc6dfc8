"""After a promotion the previous slot keeps its full capacity at 0%: `retire` removes it, so cost
falls back to one slot's; until then a rollback is instant, afterwards it is a release.

The deploy step is the CLI's apply of every stack; here it records what the file holds at each
apply (the e2e tests apply for real).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmdeploy.cli import app
from llmdeploy.errors import ConfigError
from llmdeploy.release import promotion
from llmdeploy.release.config_edit import edit_slots
from llmdeploy.release.observer import DeployedStack
from llmdeploy.release.promotion import ReleaseContext
from llmdeploy.release.record import PromotionRecord, read_record, record_path, write_record
from tests.conftest import EXAMPLES

runner = CliRunner()
SHA = "0123456789abcdef0123456789abcdef01234567"
OLD = "7ae557604adf67be50417f59c2c2f167def9a775"


class Deployments:
    """The slots in the file each time the environment is deployed."""

    def __init__(self, env_path: Path) -> None:
        self.env_path = env_path
        self.applied: list[list[str]] = []

    def __call__(self, new_images: Sequence[str] = ()) -> Sequence[DeployedStack]:
        config = yaml.safe_load(self.env_path.read_text(encoding="utf-8"))
        self.applied.append(sorted(config["models"][0].get("slots", {"blue": {}})))
        return []


class Transcript:
    """What the commands said, line by line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture
def context(tmp_path: Path, example_vars: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ReleaseContext:
    shutil.copytree(EXAMPLES, tmp_path / "environments")
    monkeypatch.chdir(tmp_path)
    env_path = tmp_path / "environments" / "dev.yaml"
    return ReleaseContext(
        env_path,
        "chat",
        Deployments(env_path),
        tmp_path / "promotions",
        Transcript(),
        lambda verb, *args: " ".join(["llmdeploy", verb, "dev", *args]),
    )


def monthly(env: str = "dev") -> tuple[float, float]:
    """`llmdeploy cost <env> --json`'s monthly total at min and max capacity."""
    result = runner.invoke(app, ["cost", env, "--json"])
    total = json.loads(result.stdout)["total_usd_month"]
    return total["min"], total["max"]


def promoted(context: ReleaseContext) -> None:
    """Release SHA into green and bring the file and record to where a finished promotion leaves them."""
    promotion.release(context, SHA, None)
    edit_slots(context.env_path, "chat", {"blue": 0, "green": 100})
    path = record_path(context.records_dir, "dev", "chat")
    write_record(path, PromotionRecord("dev", "chat", "blue", "green", "promoted", steps_done=(10, 50, 100)))


def test_cost_after_promotion_and_retire_is_one_slots_cost(context: ReleaseContext) -> None:
    one_slot = monthly()
    promoted(context)
    # Both slots run while blue is kept (the JSON rounds each total to cents).
    assert monthly() == pytest.approx((2 * one_slot[0], 2 * one_slot[1]), abs=0.02)

    assert promotion.retire(context) == "blue"

    assert monthly() == one_slot
    config = yaml.safe_load(context.env_path.read_text(encoding="utf-8"))
    assert config["models"][0]["slots"] == {"green": {"weight": 100, "revision": SHA}}
    deployed = context.deploy
    assert isinstance(deployed, Deployments)
    assert deployed.applied[-1] == ["green"]  # the apply that destroys blue's fleet
    assert read_record(record_path(context.records_dir, "dev", "chat"), "dev", "chat") is None
    said = context.say
    assert isinstance(said, Transcript)
    assert (
        f"To return to the version blue ran: llmdeploy release dev --model chat --revision {OLD}"
        in (said.lines[-1])
    )


def test_rollback_after_retire_says_to_release_the_old_version(context: ReleaseContext) -> None:
    promoted(context)
    promotion.retire(context)
    with pytest.raises(ConfigError) as caught:
        promotion.rollback(context, "blue")
    message = str(caught.value)
    assert "blue of chat was retired" in message
    assert "llmdeploy release dev --model chat --revision <sha>" in message


def test_a_release_not_yet_promoted_goes_only_when_named(context: ReleaseContext) -> None:
    promotion.release(context, SHA, None)
    with pytest.raises(ConfigError) as caught:
        promotion.retire(context)
    assert "green of chat holds a release not yet promoted" in str(caught.value)
    assert "llmdeploy retire dev --model chat --slot green" in str(caught.value)

    assert promotion.retire(context, "green") == "green"
    config = yaml.safe_load(context.env_path.read_text(encoding="utf-8"))
    assert list(config["models"][0]["slots"]) == ["blue"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prod", "--model", "translate-fr", "--slot", "green"], "green of translate-fr still has 5%"),
        (["dev", "--model", "chat"], "chat has no green slot: nothing to retire"),
    ],
)
def test_retire_refuses_a_slot_with_traffic_or_none_at_all(
    context: ReleaseContext, args: list[str], message: str
) -> None:
    before = {path.name: path.read_bytes() for path in context.env_path.parent.iterdir()}
    result = runner.invoke(app, ["retire", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert {path.name: path.read_bytes() for path in context.env_path.parent.iterdir()} == before
    assert not Path("cdktf.out").exists()
