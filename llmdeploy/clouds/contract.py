"""What every cloud gives the cloud-neutral core: one `CloudDriver`, found by `llmdeploy.clouds.driver`.

A driver turns the neutral `DeploymentPlan` into its cloud's resolved plan (every resource name, group
split, size, scaling signal and encoded boot bundle decided once), and reads the deployed cloud back
(`status`, promotion gates) by the same names. The CDK stacks translate the resolved plan field by
field; they live in `stacks/` and `modules/` because `llmdeploy/` never imports CDK code, so the stack
class is registered there (`stacks.app.stack_class`), keyed by the same cloud.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from llmdeploy.catalog import Cloud
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.release.gates import CloudSample
from llmdeploy.release.observer import DeployedStack, HealthObserver
from llmdeploy.status.model import RouterGroupStatus, SlotStatus
from llmdeploy.terraform.diagnose import UnpublishedMetric

__all__ = [
    "CloudDriver",
    "CloudSample",
    "DeployedStack",
    "HealthObserver",
    "ResolvedCloud",
    "RouterGroupStatus",
    "SlotStatus",
    "StackAccess",
]


@dataclass(frozen=True)
class StackAccess:
    """How `status` reaches one deployed cloud stack."""

    stack: str
    #: Credentials and endpoints (the emulator's with `--local`).
    environ: Mapping[str, str]
    #: Reads the stack's Terraform outputs (synthesizes and initializes the stack: slow). Only for
    #: ids the cloud assigns; every name comes from the resolved plan.
    outputs: Callable[[], Mapping[str, object]]


class ResolvedCloud(Protocol):
    """One cloud's resolved plan: what its stack creates, every value decided.

    Each cloud's `resolve.py` defines a frozen dataclass with these fields and its own fleets
    (`AwsPlan.fleets: tuple[AwsFleet, ...]` and so on).
    """

    @property
    def cloud(self) -> Cloud: ...

    @property
    def stack(self) -> str: ...


class CloudDriver(Protocol):
    """The one translation point of a cloud (`llmdeploy/clouds/<cloud>/__init__.py` exports `DRIVER`)."""

    @property
    def cloud(self) -> Cloud: ...

    def resolve(self, plan: DeploymentPlan) -> ResolvedCloud:
        """The cloud's resolved plan. Raises ConfigError for what the cloud cannot build."""
        ...

    def read_status(self, plan: DeploymentPlan, stack: StackAccess) -> list[SlotStatus]:
        """Every fleet's status on this cloud, found by the resolved names."""
        ...

    def read_routers(self, plan: DeploymentPlan, stack: StackAccess) -> RouterGroupStatus | None:
        """The router group and its metrics on this cloud; None when routing is off."""
        ...

    def observer(self, stack: DeployedStack) -> HealthObserver:
        """The promotion gates' view of one deployed stack."""
        ...

    def encode_user_data(self, bundle: str) -> str:
        """The boot bundle as the cloud's VM user-data field takes it."""
        ...

    def settle(self, plan: DeploymentPlan, refused: UnpublishedMetric, say: Callable[[str], None]) -> bool:
        """After an apply the cloud refused for a metric nothing has published yet, publish it.

        True once the cloud lists every metric the stack's rules read (the apply may run again);
        False when this cloud has nothing to publish. `say` shows progress. Raises OperationError
        when publishing fails or the cloud does not list the metrics in time.
        """
        ...
