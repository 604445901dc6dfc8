"""How promotion gates see a cloud: one `HealthObserver` per deployed cloud stack.

An observer reads what the stack's Terraform outputs name (target groups, alarms) and reports a
`CloudSample` for one model's slot. Each cloud's observer lives in `llmdeploy/release/<cloud>.py`
and is imported only when that cloud is deployed (boto3 and friends are slow to import).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from llmdeploy.catalog import Cloud
from llmdeploy.config.model import Slot
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.release.gates import CloudSample

#: Clouds with an observer module (`llmdeploy.release.<cloud>`, defining `observer(stack)`).
OBSERVED_CLOUDS: tuple[Cloud, ...] = ("aws", "gcp", "azure")


@dataclass(frozen=True)
class DeployedStack:
    """A cloud stack after apply: what an observer needs to find the slot's resources."""

    cloud: Cloud
    stack: str
    #: The environment the stack was applied from: every name an observer reads resolves from it.
    plan: DeploymentPlan
    #: Terraform's outputs: read only for ids the cloud assigns (ARNs, addresses).
    outputs: Mapping[str, object]
    #: The environment the stack was applied with (credentials, endpoints such as an emulator's).
    environ: Mapping[str, str]

    @property
    def env(self) -> str:
        """The environment (file name) the stack belongs to, for "apply it" hints."""
        return self.plan.env

    @property
    def window_minutes(self) -> int:
        """Minutes of request history the error rate is computed over."""
        return self.plan.monitoring.alarms.evaluation_minutes


class HealthObserver(Protocol):
    """Reports the health of one model's slot on one cloud."""

    @property
    def cloud(self) -> Cloud: ...

    def sample(self, model: str, slot: Slot) -> CloudSample: ...


def observer_for(stack: DeployedStack) -> HealthObserver:
    """The observer of a deployed stack.

    Raises:
        OperationError: the cloud has no observer yet, so its gates cannot be checked.
    """
    if stack.cloud not in OBSERVED_CLOUDS:
        raise OperationError(
            f"Promotion gates cannot watch {stack.cloud} yet (stack {stack.stack}): llmdeploy has no "
            f"{stack.cloud} health observer, so it cannot tell whether the new slot is healthy there. "
            f"Promote on the clouds it can watch with --cloud {' / --cloud '.join(OBSERVED_CLOUDS)}."
        )
    from llmdeploy.clouds import driver  # the clouds' contract imports this module's records

    return driver(stack.cloud).observer(stack)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_Fleet = TypeVar("_Fleet", bound=_Named)


def planned_fleet(stack: DeployedStack, fleets: Iterable[_Fleet], model: str, slot: Slot) -> _Fleet:
    """The resolved fleet `<model>-<slot>` of a stack.

    Raises:
        OperationError: the environment has no such fleet on this cloud.
    """
    found = next((fleet for fleet in fleets if fleet.name == f"{model}-{slot}"), None)
    if found is None:
        raise OperationError(
            f"Environment {stack.env} has no {slot} fleet of model {model} on {stack.cloud} (stack "
            f"{stack.stack}). Check the model name, and that the model runs on {stack.cloud} in the "
            "environment file."
        )
    return found


def fleet_outputs(stack: DeployedStack, model: str, slot: Slot) -> Mapping[str, object]:
    """The stack's `fleets` output entry of one model's slot."""
    fleets = stack.outputs.get("fleets")
    entry = fleets.get(f"{model}-{slot}") if isinstance(fleets, Mapping) else None
    if not isinstance(entry, Mapping):
        raise OperationError(
            f"Stack {stack.stack} has no {slot} fleet of model {model} in its outputs (output "
            f"`fleets`, key `{model}-{slot}`). Apply the environment first (`llmdeploy apply`), "
            "then run the command again."
        )
    return entry


def output_list(fleet: Mapping[str, object], key: str) -> list[str]:
    """A list in a fleet's outputs (names of groups or alerts) as strings; empty when absent."""
    value = fleet.get(key)
    return [str(item) for item in value] if isinstance(value, list | tuple) else []
