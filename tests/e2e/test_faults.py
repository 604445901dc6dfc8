"""Faults during `llmdeploy apply dev --local`, for real (Terraform + the AWS provider + the emulator):
the machine dies mid-apply (SIGKILL to llmdeploy, Terraform and its provider), then Ctrl-C arrives
mid-apply. Each time the command llmdeploy prints is run as printed, and at the end every resource
with dev's tags is in the state, once.

Both faults strike while the load balancer is being created: the AWS provider then waits about
60 s for it to become active, so the window is wide, and the load balancer already exists in AWS
while Terraform has not recorded it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmdeploy.terraform.aws_orphans import find_orphans
from tests.conftest import REPO
from tests.e2e.project import Background, Project, local_project, wait_for

pytestmark = pytest.mark.terraform

STACK = "dev-aws"
TAGS = {"project": "faults", "environment": "dev", "managed-by": "llmdeploy"}


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("faults")
    with local_project(root, "faults", terraform_cli_env["LLMDEPLOY_CACHE_DIR"]) as project:
        # The CLI runs from the project folder: make it run this checkout's code, not the installed one.
        project.env["PYTHONPATH"] = str(REPO)
        yield project


def _state_types(project: Project) -> set[str] | None:
    """The resource types in the stack's state; None while Terraform is rewriting the file."""
    path = project.root / f"terraform.{STACK}.tfstate"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {resource["type"] for resource in state.get("resources", [])}


def _load_balancers(project: Project) -> list[str]:
    found = project.client("elbv2").describe_load_balancers()["LoadBalancers"]
    return [balancer["LoadBalancerArn"] for balancer in found]


def _creating_load_balancer(project: Project, run: Background, seen: list[str]) -> bool | None:
    """True while the load balancer exists in AWS and Terraform, still creating it, has not recorded it.

    Terraform's progress lines (plain, as in any log) say when it finishes the resource.
    """
    log = run.stderr.read_text(encoding="utf-8")
    started, done = (f"{verb} aws_lb.LoadBalancer" in log for verb in ("working on", "done"))
    balancers = _load_balancers(project)
    seen.append(f"started={started} done={done} balancers={len(balancers)}")
    return True if started and balancers and not done else None


def _wait_for_load_balancer(project: Project, run: Background) -> None:
    seen: list[str] = []
    try:
        wait_for(
            lambda: _creating_load_balancer(project, run, seen), 600, "the load balancer", interval_s=0.5
        )
    except AssertionError:
        raise AssertionError(f"never caught the load balancer in creation: {sorted(set(seen))}") from None


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Terraform and its provider run in a session of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _machine_dies(run: Background) -> None:
    for pid in [run.process.pid, *_descendants(run.process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run.process.wait(timeout=30)


def _printed(text: str, verb: str) -> list[str]:
    """The `llmdeploy <verb> ...` command a message tells the user to run, as arguments."""
    flat = " ".join(text.split())
    match = re.search(rf"`llmdeploy ({verb} [^`]*)`", flat)
    assert match, f"no `llmdeploy {verb}` command in: {flat}"
    return shlex.split(match.group(1))


def _orphans(project: Project) -> list[str]:
    runner_state = json.loads((project.root / f"terraform.{STACK}.tfstate").read_text(encoding="utf-8"))
    # find_orphans takes Terraform's `show -json` document; the raw state names the same ids and ARNs.
    return [orphan.shown() for orphan in find_orphans(TAGS, runner_state, project.client)]


def test_a_killed_apply_then_a_ctrl_c_are_both_recovered_with_the_printed_commands(project: Project) -> None:
    first = project.start("apply", "dev", "--local", "--auto-approve")
    _wait_for_load_balancer(project, first)
    _machine_dies(first)
    assert _load_balancers(project) and "aws_lb" not in (_state_types(project) or ())  # a real orphan

    refused = project.run("apply", "dev", "--local", "--auto-approve")
    message = " ".join(refused.stderr.split())
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "was killed before Terraform recorded everything it created" in message
    assert "elasticloadbalancing:loadbalancer" in message
    cleanup = project.run(*_printed(message, "state orphans"), answer="y\n")
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert _load_balancers(project) == []

    second = project.start(*_printed(message, "apply"))
    wait_for(
        lambda: _creating_load_balancer(project), 600, "the load balancer's creation again", interval_s=0.5
    )
    code, _, stderr = second.interrupt()
    interrupted = " ".join(stderr.split())
    assert code == 130, stderr
    assert f"Interrupted: `terraform apply` of stack '{STACK}' stopped gracefully" in interrupted
    assert "Traceback" not in stderr

    finished = project.run(*_printed(interrupted, "apply"), answer="y\n" * 3)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert len(_load_balancers(project)) == 1
    assert _orphans(project) == []
