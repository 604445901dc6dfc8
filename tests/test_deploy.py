"""The deploy step of release/promote/rollback, run through llmdeploy.deploy without the CLI.

Real terraform on hand-written stacks that need no provider (a `terraform_data` resource and the
`endpoints` output), so the step costs a few seconds: plan, approval, apply, and the deployed
stacks the gates read, with the outputs taken from the state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from llmdeploy.cli.next_steps import Invocation
from llmdeploy.config import load
from llmdeploy.deploy import Callbacks, Declined, StackTarget, deployed, run_stacks, stack_runner
from llmdeploy.plan.build import build_plan
from llmdeploy.terraform import PlanSummary
from llmdeploy.terraform.diagnose import UnpublishedMetric
from llmdeploy.terraform.runner import Message
from tests.conftest import EXAMPLES
from tests.terraform.stacks import write_stack

pytestmark = pytest.mark.terraform


def _stack(weight: int) -> dict[str, object]:
    """A stack whose one resource changes with the blue slot's weight, like a traffic step."""
    return {
        "terraform": {"backend": {"local": {"path": "terraform.tfstate"}}},
        "resource": {"terraform_data": {"weights": {"input": {"blue": weight, "green": 100 - weight}}}},
        "output": {"endpoints": {"value": {"chat": "https://chat.example.test"}}},
    }


class Recorder:
    """Callbacks that answer approval with `answer` and record what the run showed."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, int]] = []
        self.progress: list[str] = []
        self.messages: list[Message] = []
        self.warnings: list[str] = []

    def callbacks(self) -> Callbacks:
        def approve(target: StackTarget, command: str, planned: PlanSummary) -> bool:
            self.asked.append((target.stack, command, planned.add + planned.change))
            return self.answer

        @contextmanager
        def progress(stack: str, what: str) -> Iterator[Callable[[Message], None]]:
            self.progress.append(f"{stack}: {what}")
            yield self.messages.append

        return Callbacks(approve, progress, self.warnings.append)


@pytest.fixture
def targets(
    tmp_path: Path,
    terraform_cli_env: dict[str, str],
    example_vars: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> list[StackTarget]:
    """The dev example's AWS stack, written by hand where synth would put it."""
    monkeypatch.chdir(tmp_path)
    (aws,) = [entry for entry in build_plan(load("dev", EXAMPLES)).clouds if entry.cloud == "aws"]
    write_stack(tmp_path / "cdktf.out" / "stacks" / aws.stack, _stack(100))
    environ = dict(terraform_cli_env)
    return [StackTarget(aws.stack, aws, stack_runner(aws.stack, Path("cdktf.out"), environ), environ)]


def test_a_deploy_step_applies_what_changed_and_hands_the_gates_its_stacks(
    targets: list[StackTarget], example_vars: dict[str, str]
) -> None:
    where = Invocation("dev", EXAMPLES)
    recorder = Recorder(answer=True)
    (row,) = run_stacks(targets, where, "apply", recorder.callbacks())
    assert (row.summary.add, recorder.asked) == (1, [(targets[0].stack, "apply", 1)])
    assert recorder.progress == [f"{targets[0].stack}: plan (apply)", f"{targets[0].stack}: apply"]
    assert any(message.get("type") == "apply_complete" for message in recorder.messages)

    (stack,) = deployed(targets, load("dev", EXAMPLES))
    assert (stack.cloud, stack.env, stack.stack) == ("aws", "dev", targets[0].stack)
    assert stack.outputs["endpoints"] == {"chat": "https://chat.example.test"}

    # Nothing changed: the next step plans, asks nothing and applies nothing.
    (again,) = run_stacks(targets, where, "apply", recorder.callbacks())
    assert not again.summary.has_changes and len(recorder.asked) == 1


def test_a_step_not_approved_changes_nothing(targets: list[StackTarget]) -> None:
    where = Invocation("dev", EXAMPLES)
    with pytest.raises(Declined) as declined:
        run_stacks(targets, where, "apply", Recorder(answer=False).callbacks())
    assert declined.value.stack == targets[0].stack
    assert "1 to add" in declined.value.changes
    assert targets[0].runner.output() == {}


#: Azure's answer to an autoscale setting on a custom metric nothing has published (Azure/azure-cli#25986).
REFUSAL = (
    "creating Monitor Autoscale Setting: unexpected status 400 (400 Bad Request) with error: "
    "UnsupportedMetric: resource: /subscriptions/0/resourceGroups/llmdeploy-dev/providers/"
    "Microsoft.Compute/virtualMachineScaleSets/chat-blue, metricnamespace: LLMDeploy, metricname: QueueSize"
)


def _refusing_stack(folder: Path) -> dict[str, object]:
    """A scale set, then an autoscale setting that Azure refuses until `folder/seeded` exists.

    The refusal comes from a real Terraform apply (a provisioner failing with Azure's words), so the
    stack is left half applied, as Azure leaves it: the scale set in the state, the setting not.
    """
    (folder / "refusal").write_text(REFUSAL, encoding="utf-8")
    refuse = f"test -f {folder / 'seeded'} || {{ cat {folder / 'refusal'} >&2; exit 1; }}"
    return {
        "terraform": {"backend": {"local": {"path": "terraform.tfstate"}}},
        "resource": {
            "terraform_data": {
                "scale_set": {"input": "chat-blue"},
                "autoscale": {
                    "input": "${terraform_data.scale_set.output}",
                    "provisioner": [{"local-exec": {"command": refuse}}],
                },
            }
        },
        "output": {"endpoints": {"value": {"chat": "https://chat.example.test"}}},
    }


@pytest.fixture
def refusing(targets: list[StackTarget], tmp_path: Path) -> StackTarget:
    (target,) = targets
    write_stack(target.runner.stack_dir, _refusing_stack(tmp_path))
    return target


class Publisher:
    """A cloud's `settle`: records each refusal and, when `works`, makes the metric exist."""

    def __init__(self, folder: Path, works: bool = True) -> None:
        self.folder, self.works = folder, works
        self.refusals: list[UnpublishedMetric] = []

    def __call__(self, refused: UnpublishedMetric, say: Callable[[str], None]) -> bool:
        self.refusals.append(refused)
        say("publishing a first QueueSize value on chat-blue")
        if self.works:
            (self.folder / "seeded").touch()
        return True


def test_an_apply_refused_for_an_unpublished_metric_publishes_it_and_applies_the_rest(
    refusing: StackTarget, tmp_path: Path
) -> None:
    publisher = Publisher(tmp_path)
    target = replace(refusing, settle=publisher)
    recorder = Recorder(answer=True)
    (row,) = run_stacks([target], Invocation("dev", EXAMPLES), "apply", recorder.callbacks())

    # One approval: the second plan holds only what the approved one left undone.
    assert recorder.asked == [(target.stack, "apply", 2)]
    (refused,) = publisher.refusals
    assert refused.failure.command == "apply" and "UnsupportedMetric" in str(refused)
    assert recorder.warnings == [f"{target.stack}: publishing a first QueueSize value on chat-blue"]
    assert [change.address for change in row.summary.resources] == ["terraform_data.autoscale"]
    assert target.runner.output()["endpoints"] == {"chat": "https://chat.example.test"}
    # Applied: the next apply has nothing to do.
    (again,) = run_stacks([target], Invocation("dev", EXAMPLES), "apply", recorder.callbacks())
    assert not again.summary.has_changes and len(publisher.refusals) == 1


def test_a_refusal_nothing_can_publish_fails_with_the_advice(refusing: StackTarget) -> None:
    with pytest.raises(UnpublishedMetric) as refused:
        run_stacks([refusing], Invocation("dev", EXAMPLES), "apply", Recorder(answer=True).callbacks())
    assert "'Monitoring Metrics Publisher'" in str(refused.value)


def test_a_metric_still_refused_after_publishing_fails_after_one_more_apply(
    refusing: StackTarget, tmp_path: Path
) -> None:
    publisher = Publisher(tmp_path, works=False)
    with pytest.raises(UnpublishedMetric):
        run_stacks(
            [replace(refusing, settle=publisher)],
            Invocation("dev", EXAMPLES),
            "apply",
            Recorder(answer=True).callbacks(),
        )
    assert len(publisher.refusals) == 1
