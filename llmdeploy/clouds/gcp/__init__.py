"""GCP: the driver (its resolution stage moves here from modules/gcp and llmdeploy/status)."""

from __future__ import annotations

from typing import Literal

from llmdeploy.clouds.contract import DeployedStack, HealthObserver, SlotStatus, StackAccess
from llmdeploy.plan.model import DeploymentPlan


class GcpDriver:
    cloud: Literal["gcp"] = "gcp"

    def read_status(self, plan: DeploymentPlan, stack: StackAccess) -> list[SlotStatus]:
        from llmdeploy.status import gcp

        return gcp.read_status(plan, gcp.GcpClients.connect())

    def observer(self, stack: DeployedStack) -> HealthObserver:
        from llmdeploy.release import gcp

        return gcp.observer(stack)


DRIVER = GcpDriver()
