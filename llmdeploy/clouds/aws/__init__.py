"""AWS: the driver. Resolution (`resolve.py`), names, status and the gates' observer live here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from llmdeploy.boot.bundle import encode
from llmdeploy.clouds.aws.resolve import AwsPlan, resolve
from llmdeploy.clouds.contract import (
    CloudDriver,
    DeployedStack,
    HealthObserver,
    RouterGroupStatus,
    SlotStatus,
    StackAccess,
)
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.terraform.diagnose import UnpublishedMetric


class AwsDriver:
    cloud: Literal["aws"] = "aws"

    def resolve(self, plan: DeploymentPlan) -> AwsPlan:
        return resolve(plan)

    def read_status(self, plan: DeploymentPlan, stack: StackAccess) -> list[SlotStatus]:
        """Found by the resolved names: no Terraform output is read."""
        from llmdeploy.clouds.aws.status import AwsClients, read_status  # boto3: slow to import

        resolved = resolve(plan)
        return read_status(resolved, AwsClients.connect(resolved.region, stack.environ))

    def read_routers(self, plan: DeploymentPlan, stack: StackAccess) -> RouterGroupStatus | None:
        from llmdeploy.clouds.aws.status import AwsClients, read_routers

        resolved = resolve(plan)
        if resolved.routers is None:
            return None
        return read_routers(resolved, AwsClients.connect(resolved.region, stack.environ), datetime.now(UTC))

    def observer(self, stack: DeployedStack) -> HealthObserver:
        from llmdeploy.clouds.aws.observer import observer

        return observer(stack)

    def encode_user_data(self, bundle: str) -> str:
        return encode(self.cloud, bundle)

    def settle(self, plan: DeploymentPlan, refused: UnpublishedMetric, say: Callable[[str], None]) -> bool:
        """Nothing to publish: only Azure refuses a rule for an unpublished metric (UnsupportedMetric)."""
        return False


#: Typed as the protocol, so mypy checks that the driver keeps the contract.
DRIVER: CloudDriver = AwsDriver()
