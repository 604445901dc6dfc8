"""GCP: the driver. Its resolution stage (`resolve.py`) decides every name, size and value the GCP
stack, `status` and the gates use; `names.py` holds the naming rules.
"""

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
    from llmdeploy.clouds.gcp.resolve import GcpPlan


class GcpDriver:
    """The modules load lazily: the Google SDKs (status, observer) are slow to import."""

    cloud: Literal["gcp"] = "gcp"

    def resolve(self, plan: DeploymentPlan) -> GcpPlan:
        from llmdeploy.clouds.gcp import resolve

        return resolve.resolve(plan)

    def read_status(self, plan: DeploymentPlan, stack: StackAccess) -> list[SlotStatus]:
        from llmdeploy.clouds.gcp import status

        return status.read_status(plan, status.GcpClients.connect())

    def read_routers(self, plan: DeploymentPlan, stack: StackAccess) -> RouterGroupStatus | None:
        if plan.router_group("gcp") is None:
            return None
        from google.cloud import monitoring_v3

        from llmdeploy.clouds.gcp import status

        metrics = monitoring_v3.MetricServiceClient()
        return status.read_routers(plan, status.GcpClients.connect(), metrics, datetime.now(UTC))

    def observer(self, stack: DeployedStack) -> HealthObserver:
        from llmdeploy.clouds.gcp import observer

        return observer.observer(stack)

    def encode_user_data(self, bundle: str) -> str:
        from llmdeploy.boot.bundle import encode

        return encode("gcp", bundle)

    def settle(self, plan: DeploymentPlan, refused: UnpublishedMetric, say: Callable[[str], None]) -> bool:
        """Nothing to publish: only Azure refuses a rule for an unpublished metric (UnsupportedMetric)."""
        return False


#: Typed as the protocol, so mypy checks that the driver keeps the contract.
DRIVER: CloudDriver = GcpDriver()
