"""Scale-up hooks: what the gate calls, once per burst, to wake a fleet at zero.

Each cloud's hook is a thin function over its SDK, taking names already resolved from the plan. They
block (SDK calls), so the gate runs them in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from llmdeploy.routing.metrics import GateMetrics

#: A hook: ask the cloud for at least one replica. Raises on failure; the gate logs it and re-arms.
ScaleUpHook = Callable[[], None]

log = logging.getLogger(__name__)


class BurstTrigger:
    """Calls the hook exactly once per burst.

    A burst is the time at zero between two wakes of the fleet (`Fleet.wakes`); it also ends when
    `period_s` (the hold budget) passes without a wake, so a cloud that could not place a VM is asked
    again by the next held request rather than never.
    """

    def __init__(self, hook: ScaleUpHook, period_s: float, metrics: GateMetrics) -> None:
        self._hook = hook
        self._period_s = period_s
        self._metrics = metrics
        self._last: tuple[int, float] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def fire(self, wakes: int) -> None:
        """A request found the fleet at zero: call the hook unless this burst already did."""
        now = time.monotonic()
        if self._last is not None and self._last[0] == wakes and now - self._last[1] < self._period_s:
            return
        self._last = (wakes, now)
        self._metrics.scale_ups += 1
        task = asyncio.get_running_loop().create_task(self._call())
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _call(self) -> None:
        try:
            await asyncio.to_thread(self._hook)
        except Exception:  # an SDK error must not kill the gate; the next held request asks again
            log.exception("scale-up hook failed")
            self._last = None


def aws_set_desired_capacity(client: Any, group: str, desired: int) -> None:
    """Raise an Auto Scaling group to `desired` (boto3 `autoscaling` client), never lower it."""
    groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    if groups and groups[0]["DesiredCapacity"] >= desired:
        return
    client.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=desired, HonorCooldown=False)


def gcp_resize_mig(client: Any, project: str, region: str, group: str, size: int) -> None:
    """Resize a regional MIG (google-cloud-compute `RegionInstanceGroupManagersClient`) to `size`."""
    current = client.get(project=project, region=region, instance_group_manager=group).target_size
    if current >= size:
        return
    client.resize(project=project, region=region, instance_group_manager=group, size=size).result()


def azure_set_capacity(client: Any, resource_group: str, scale_set: str, capacity: int) -> None:
    """Set a scale set's capacity (azure-mgmt-compute `ComputeManagementClient`), never lower it."""
    current = client.virtual_machine_scale_sets.get(resource_group, scale_set)
    if current.sku.capacity >= capacity:
        return
    patch = {"sku": {"name": current.sku.name, "tier": current.sku.tier, "capacity": capacity}}
    client.virtual_machine_scale_sets.begin_update(resource_group, scale_set, patch).result()
