"""Blue/green releases of `dev` for real: the CLI edits a copy of the environment file and applies it
with Terraform to the local AWS emulator after every step; boto3 reads the listener weights.

The emulator's load balancer serves no HTTP, so promotion's smoke check of the new slot goes to a
stand-in engine on loopback (`--smoke-endpoint`), which records the slot header of each request.

One apply of dev (and one release into green) serves the whole module: the AWS provider waits
~60 s after creating a load balancer, while a weight change only updates a listener rule.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.e2e.project import Project, local_project, wait_for
from tests.smoke.engine import Engine, engine

pytestmark = pytest.mark.terraform

STACK = "dev-aws"
NEW_REVISION = "0123456789abcdef0123456789abcdef01234567"
#: Short gates: the emulator answers at once, only the applies take time.
FAST = ("--pause", "2s", "--poll", "1s", "--step-timeout", "30s")
BLUE_ONLY = {"blue": 100, "green": 0}
#: dev's model id (environments/dev.yaml), and one it does not serve.
DEV_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
WRONG_MODEL = "mistralai/Mistral-7B-Instruct-v0.3"


@dataclass
class Released:
    project: Project
    outputs: dict[str, Any]
    original_file: str
    #: The new slot's stand-in engine, which promotion's smoke check calls.
    green: Engine

    def weights(self) -> dict[str, int]:
        """The model's listener rule weights, by slot, as the load balancer reports them."""
        (rule,) = self.project.client("elbv2").describe_rules(
            RuleArns=[self.outputs["listener_rule_arns"]["chat"]]
        )["Rules"]
        (forward,) = [action for action in rule["Actions"] if action["Type"] == "forward"]
        by_arn = {
            group["TargetGroupArn"]: group["Weight"] for group in forward["ForwardConfig"]["TargetGroups"]
        }
        return {fleet["slot"]: by_arn[fleet["target_group_arn"]] for fleet in self.outputs["fleets"].values()}

    def file_weights(self) -> dict[str, int]:
        config = yaml.safe_load((self.project.environments / "dev.yaml").read_text(encoding="utf-8"))
        return {slot: entry["weight"] for slot, entry in config["models"][0]["slots"].items()}

    def promote(self, *extra: str, smoke: Engine | None = None) -> list[str]:
        endpoint = f"http://127.0.0.1:{(smoke or self.green).port}/"
        return ["promote", "dev", "--model", "chat", "--local", *FAST, "--smoke-endpoint", endpoint, *extra]

    def ensure_blue_serving(self) -> None:
        if self.weights() != BLUE_ONLY:
            done = self.project.run("rollback", "dev", "--model", "chat", "--to", "blue", "--local")
            assert done.returncode == 0, done.stderr
        assert self.weights() == BLUE_ONLY


@pytest.fixture(scope="module")
def released(
    tmp_path_factory: pytest.TempPathFactory, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> Iterator[Released]:
    root = tmp_path_factory.mktemp("promotion")
    with (
        local_project(root, "promotion", terraform_cli_env["LLMDEPLOY_CACHE_DIR"]) as project,
        engine(DEV_MODEL) as green,
    ):
        original = (project.environments / "dev.yaml").read_text(encoding="utf-8")
        applied = project.run("apply", "dev", "--local", "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        release = project.run("release", "dev", "--model", "chat", "--revision", NEW_REVISION, "--local")
        assert release.returncode == 0, release.stdout + release.stderr
        yield Released(project, project.outputs(STACK), original, green)


def test_release_deploys_the_new_revision_into_green_at_zero_weight(released: Released) -> None:
    assert released.weights() == BLUE_ONLY
    green = released.outputs["fleets"]["chat-green"]
    health = released.project.client("elbv2").describe_target_health(TargetGroupArn=green["target_group_arn"])
    assert [entry["TargetHealth"]["State"] for entry in health["TargetHealthDescriptions"]] == ["healthy"]
    (template,) = released.project.client("ec2").describe_launch_templates(
        LaunchTemplateIds=[green["launch_template_id"]]
    )["LaunchTemplates"]
    assert template["LaunchTemplateName"].startswith(green["asg_name"])
    text = (released.project.environments / "dev.yaml").read_text(encoding="utf-8")
    assert text.startswith(released.original_file)  # comments and key order kept, slots appended
    assert f"revision: {NEW_REVISION}" in text[len(released.original_file) :]
    record = released.project.record("dev", "chat")
    assert (record["source"], record["target"], record["state"]) == ("blue", "green", "released")


def test_a_wrong_model_in_the_new_slot_stops_the_promotion_before_any_traffic_moves(
    released: Released,
) -> None:
    released.ensure_blue_serving()
    with engine(WRONG_MODEL) as wrong:
        done = released.project.run(*released.promote("--steps", "10,50,100", smoke=wrong))
    assert done.returncode == 1, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert "Promotion of chat to green stopped: its smoke check failed before the first step" in message
    assert f"the endpoint serves {WRONG_MODEL}, not the configured {DEV_MODEL}" in message
    assert "Rolled back: blue has 100% of the traffic again" in message
    # The smoke check named the new slot, and ran before any step was applied.
    assert wrong.slots == ["green"]
    assert not [line for line in done.stdout.splitlines() if "applying" in line]
    assert released.weights() == BLUE_ONLY
    assert released.file_weights() == BLUE_ONLY
    record = released.project.record("dev", "chat")
    assert record["state"] == "rolled-back"
    assert record["reason"].startswith("smoke check failed before the first step")


def test_promotion_moves_the_listener_weights_step_by_step_to_green(released: Released) -> None:
    released.ensure_blue_serving()
    released.green.slots.clear()
    command = released.project.start(*released.promote("--steps", "10,50,100"))
    seen = [released.weights()]
    while command.running():
        current = released.weights()
        if current != seen[-1]:
            seen.append(current)
        time.sleep(0.2)
    code, stdout, stderr = command.finish()
    assert code == 0, stdout + stderr
    seen += [released.weights()] if released.weights() != seen[-1] else []
    assert seen == [
        {"blue": 100, "green": 0},
        {"blue": 90, "green": 10},
        {"blue": 50, "green": 50},
        {"blue": 0, "green": 100},
    ]
    assert released.file_weights() == {"blue": 0, "green": 100}  # git agrees with the traffic
    record = released.project.record("dev", "chat")
    assert (record["state"], record["steps_done"]) == ("promoted", [10, 50, 100])
    assert "chat: promoted: green has 100% of the traffic" in stdout
    # Smoke-checked once, before the first step, with every request naming green.
    assert released.green.slots == ["green", "green"]
    assert stdout.index("smoke green at") < stdout.index("chat: applying")


def test_rollback_returns_all_traffic_to_the_previous_slot_at_once(released: Released) -> None:
    if released.weights() == BLUE_ONLY:
        moved = released.project.run(*released.promote("--steps", "100"))
        assert moved.returncode == 0, moved.stderr
    done = released.project.run("rollback", "dev", "--model", "chat", "--local")
    assert done.returncode == 0, done.stdout + done.stderr
    assert released.weights() == BLUE_ONLY
    assert released.file_weights() == BLUE_ONLY
    assert released.project.record("dev", "chat")["state"] == "rolled-back"


def test_an_unhealthy_green_is_rolled_back_by_the_gate_with_exit_1(released: Released) -> None:
    released.ensure_blue_serving()
    project, green = released.project, released.outputs["fleets"]["chat-green"]
    ec2, cloudwatch = project.client("ec2"), project.client("cloudwatch")
    instances = [
        entry["Target"]["Id"]
        for entry in project.client("elbv2").describe_target_health(TargetGroupArn=green["target_group_arn"])[
            "TargetHealthDescriptions"
        ]
    ]
    alarm = next(name for name in green["alarm_names"] if name.endswith("-unhealthy-hosts"))
    command = project.start(*released.promote("--steps", "10,50,100", "--pause", "20s"))
    try:
        wait_for(lambda: True if released.weights()["green"] == 10 else None, 300, "green at 10%")
        ec2.stop_instances(InstanceIds=instances)
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: green is broken")
        code, stdout, stderr = command.finish()
    finally:
        ec2.start_instances(InstanceIds=instances)
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test: repaired")
    assert code == 1, stdout + stderr
    message = " ".join(stderr.split())
    assert "Promotion of chat to green stopped: its gate failed at 10%" in message
    assert f"alarm {alarm} is firing" in message
    assert "Rolled back: blue has 100% of the traffic again" in message
    assert released.weights() == BLUE_ONLY
    assert released.file_weights() == BLUE_ONLY
    record = project.record("dev", "chat")
    assert record["state"] == "rolled-back"
    assert f"alarm {alarm} is firing" in record["reason"]


def test_an_interrupted_promotion_continues_from_the_last_step_that_passed_its_gate(
    released: Released,
) -> None:
    released.ensure_blue_serving()
    project = released.project
    command = project.start(*released.promote("--steps", "10,50,100", "--pause", "5s"))
    wait_for(
        lambda: True if project.record("dev", "chat")["steps_done"] == [10] else None, 300, "the 10% gate"
    )
    code, _, stderr = command.interrupt()  # Ctrl-C, somewhere in the 50% step
    assert code == 130, stderr
    said = " ".join(stderr.split())
    assert "keeps the last step that passed its gate" in said
    assert "Run `llmdeploy promote dev --model chat" in said and "to continue from there" in said
    record = project.record("dev", "chat")
    assert (record["state"], record["steps_done"]) == ("promoting", [10])
    assert released.file_weights()["green"] in (10, 50)  # the 50% edit may have landed before Ctrl-C
    resumed = project.run(*released.promote("--steps", "10,50,100"))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    lines = resumed.stdout.splitlines()
    assert "chat: promoting green from 10% through 50% -> 100%" in lines
    assert [line for line in lines if "applying" in line] == [
        "chat: applying blue 50%, green 50%",
        "chat: applying blue 0%, green 100%",
    ]
    assert released.weights() == {"blue": 0, "green": 100}
    assert project.record("dev", "chat")["steps_done"] == [10, 50, 100]
