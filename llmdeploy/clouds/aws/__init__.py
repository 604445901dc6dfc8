"""AWS: the driver (its resolution stage moves here from modules/aws and llmdeploy/status/aws.py)."""

from __future__ import annotations

from typing import Literal

from llmdeploy.clouds.contract import DeployedStack, HealthObserver, SlotStatus, StackAccess
from llmdeploy.config.clouds import AwsCloud
from llmdeploy.plan.model import DeploymentPlan


class AwsDriver:
    cloud: Literal["aws"] = "aws"

    def read_status(self, plan: DeploymentPlan, stack: StackAccess) -> list[SlotStatus]:
        from llmdeploy.status.aws import AwsClients, read_status

        settings = plan.cloud("aws").settings
        assert isinstance(settings, AwsCloud)
        return read_status(plan, stack.outputs(), AwsClients.connect(settings.region, stack.environ))

    def observer(self, stack: DeployedStack) -> HealthObserver:
        from llmdeploy.release import aws

        return aws.observer(stack)


DRIVER = AwsDriver()
