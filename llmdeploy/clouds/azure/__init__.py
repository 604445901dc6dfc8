"""Azure: the driver (its resolution stage moves here from modules/azure and llmdeploy/status)."""

from __future__ import annotations

from typing import Literal

from llmdeploy.clouds.contract import DeployedStack, HealthObserver, SlotStatus, StackAccess
from llmdeploy.plan.model import DeploymentPlan


class AzureDriver:
    cloud: Literal["azure"] = "azure"

    def read_status(self, plan: DeploymentPlan, stack: StackAccess) -> list[SlotStatus]:
        from llmdeploy.status import azure

        return azure.read_status(plan, azure.AzureClients.connect(azure.subscription(plan)))

    def observer(self, stack: DeployedStack) -> HealthObserver:
        from llmdeploy.release import azure

        return azure.observer(stack)


DRIVER = AzureDriver()
