"""Applies that never finished: a marker per stack while Terraform changes it, and the orphan check.

The marker is written before Terraform starts changing a stack and removed once Terraform has
stopped by itself (done, failed, or interrupted gracefully: its state is then saved). A marker
still there on the next run means the run was killed outright, so resources may exist that no
state records; on AWS and Azure they are looked up by the environment's tags.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmdeploy.atomic_write import write_atomically
from llmdeploy.aws_session import aws_client
from llmdeploy.errors import OperationError
from llmdeploy.synth import STACK_FILE
from llmdeploy.terraform import TerraformRunner
from llmdeploy.terraform.aws_imports import Adoption, adopt, read_configuration
from llmdeploy.terraform.aws_orphans import Orphan, find_orphans
from llmdeploy.terraform.azure_imports import azure_adoption
from llmdeploy.terraform.azure_orphans import Arm, connect

#: One marker per stack being changed, in the project folder.
RUNS_DIR = Path(".llmdeploy") / "runs"
MAX_LISTED = 8


@dataclass(frozen=True)
class Unfinished:
    """A run that was changing a stack when it was killed."""

    command: str
    pid: int
    started: str


def mark(stack: str, command: str) -> None:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    body = {"command": command, "pid": os.getpid(), "started": started}
    write_atomically(RUNS_DIR / f"{stack}.json", json.dumps(body) + "\n")


def unmark(stack: str) -> None:
    (RUNS_DIR / f"{stack}.json").unlink(missing_ok=True)


def killed_run(stack: str) -> Unfinished | None:
    """The run that left a marker for `stack` and is no longer running; None when there is none."""
    try:
        raw = json.loads((RUNS_DIR / f"{stack}.json").read_text(encoding="utf-8"))
        found = Unfinished(str(raw["command"]), int(raw["pid"]), str(raw["started"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return Unfinished("an llmdeploy run", 0, "an unknown time")  # unreadable: assume the worst
    return None if found.pid and _alive(found.pid) else found


def aws_adoption(
    runner: TerraformRunner, tags: Mapping[str, str], region: str, environ: Mapping[str, str]
) -> Adoption:
    """The stack's orphans, matched to the resources of its synthesized configuration they belong to."""
    state = runner.state_document()
    orphans = _lookup(runner, tags, region, environ, state)
    return (
        adopt(orphans, read_configuration(runner.stack_dir, STACK_FILE), state)
        if orphans
        else Adoption((), ())
    )


def signed_in_arm() -> Arm:
    """Azure Resource Manager as the caller (DefaultAzureCredential: environment, managed identity
    or `az login`); it signs in at its first request."""
    from llmdeploy.clouds.azure.status import sign_in

    return connect(sign_in())


def azure_stack_adoption(runner: TerraformRunner, arm: Arm, tags: Mapping[str, str]) -> Adoption:
    """An Azure stack's orphans, found with Resource Graph, matched to its synthesized resources.

    Raises:
        OperationError: Azure refused the sign-in or the lookup.
    """
    from azure.core.exceptions import AzureError, ClientAuthenticationError

    try:
        return azure_adoption(runner, arm, tags)
    except ClientAuthenticationError as error:
        first = str(error.message).splitlines()[0]
        raise OperationError(
            f"Cannot sign in to Azure: {first} (check `az login` and the subscription)"
        ) from None
    except AzureError as error:
        raise OperationError(
            f"Could not look for resources of stack '{runner.stack}' outside its state ({error}); the "
            "lookup needs Reader on the stack's resource group: grant it, then run the command again."
        ) from None


def _lookup(
    runner: TerraformRunner,
    tags: Mapping[str, str],
    region: str,
    environ: Mapping[str, str],
    state: Mapping[str, Any],
) -> list[Orphan]:
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    try:
        return find_orphans(tags, state, lambda service: aws_client(service, region, environ))
    except (BotoCoreError, ClientError) as error:
        raise OperationError(
            f"Could not look for resources of stack '{runner.stack}' outside its state ({error}). The "
            "lookup needs tag:GetResources, ec2:Describe*, autoscaling:DescribeAutoScalingGroups, "
            "iam:ListRoles, iam:ListRoleTags, iam:ListInstanceProfiles, iam:GetInstanceProfile, "
            "kms:ListKeys, kms:DescribeKey, kms:ListResourceTags, kms:ListAliases and "
            "ecr:DescribePullThroughCacheRules: "
            "grant them, then run the command again."
        ) from None


def listed(orphans: Sequence[Orphan]) -> str:
    shown = ", ".join(orphan.shown() for orphan in orphans[:MAX_LISTED])
    more = len(orphans) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return pid != os.getpid()
