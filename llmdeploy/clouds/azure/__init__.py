"""Azure: the driver. Resolution (resolve.py), names (names.py), `status` (status.py) and the gates'
observer (observer.py) live in this folder; the Azure SDKs are imported only when status or the
gates run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

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

if TYPE_CHECKING:
    from llmdeploy.clouds.azure.resolve import AzurePlan


class AzureDriver:
    cloud: Literal["azure"] = "azure"

    # Imported when called: the boot bundle imports this package's names (the registry's).
    def resolve(self, plan: DeploymentPlan) -> AzurePlan:
        from llmdeploy.clouds.azure.resolve import resolve

        return resolve(plan)

    def read_status(self, plan: DeploymentPlan, stack: StackAccess) -> list[SlotStatus]:
        from llmdeploy.clouds.azure import status

        return status.read_status(plan, status.AzureClients.connect(status.subscription(plan)))

    def read_routers(self, plan: DeploymentPlan, stack: StackAccess) -> RouterGroupStatus | None:
        if plan.router_group("azure") is None:
            return None
        from llmdeploy.clouds.azure import status

        clients = status.AzureRouterClients.connect(status.subscription(plan))
        return status.read_routers(plan, clients, datetime.now(UTC))

    def observer(self, stack: DeployedStack) -> HealthObserver:
        from llmdeploy.clouds.azure import observer

        return observer.observer(stack)

    def encode_user_data(self, bundle: str) -> str:
        """gzip, then base64: `custom_data` takes base64, and cloud-init unzips it."""
        from llmdeploy.boot.bundle import encode

        return encode(self.cloud, bundle)

    def settle(self, plan: DeploymentPlan, refused: UnpublishedMetric, say: Callable[[str], None]) -> bool:
        """Publish a first value of the scale sets' queue size (metric_seed.py), so the rules are accepted."""
        from llmdeploy.clouds.azure.metric_seed import settle

        return settle(plan, say)


#: Typed as the protocol, so mypy checks that the driver keeps the contract.
DRIVER: CloudDriver = AzureDriver()
