"""Instance refreshes (Start/Describe/CancelInstanceRefresh), which moto 5.2.5 lacks."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.models import FakeAutoScalingGroup
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult

# What StartInstanceRefresh requests may carry besides the group name, echoed back by
# DescribeInstanceRefreshes as the provider sent them.
ECHOED = ("Preferences", "DesiredConfiguration")


class ActiveInstanceRefreshNotFoundError(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"


def _group(response: AutoScalingResponse) -> FakeAutoScalingGroup:
    name = response._get_param("AutoScalingGroupName")
    group: FakeAutoScalingGroup | None = response.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - {name}")
    return group


def _record(response: AutoScalingResponse, group: FakeAutoScalingGroup) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    refresh = {
        "InstanceRefreshId": str(uuid.uuid4()),
        "AutoScalingGroupName": group.name,
        "Strategy": response._get_param("Strategy") or "Rolling",
        "Status": "Successful",
        "StartTime": now,
        "EndTime": now,
        "PercentageComplete": 100,
        "InstancesToUpdate": 0,
    }
    for key in ECHOED:
        if response._get_param(key):
            refresh[key] = response._get_param(key)
    return refresh


def start_instance_refreshes() -> None:
    """Start/Describe/CancelInstanceRefresh answer as AWS does for a refresh that finished.

    AWS API reference: StartInstanceRefresh (AutoScalingGroupName required; Strategy
    `Rolling`, the default; Preferences; DesiredConfiguration) returns an
    InstanceRefreshId. DescribeInstanceRefreshes returns a group's refreshes, newest
    first, optionally only those named in InstanceRefreshIds, each with Status,
    PercentageComplete, StartTime, EndTime, Preferences and DesiredConfiguration.
    CancelInstanceRefresh fails with ActiveInstanceRefreshNotFound when no refresh is
    Pending or InProgress. moto 5.2.5 has none of them, and hashicorp/aws calls
    StartInstanceRefresh whenever a group with an `instance_refresh` block gets a new
    launch template, then retries for minutes before failing the apply.

    The emulator runs no real instances to replace, so it completes each refresh at
    once: it is recorded as Successful at 100 % with StartTime equal to EndTime. Hence
    a start never meets InstanceRefreshInProgress and a cancel always answers
    ActiveInstanceRefreshNotFound. Alarms in Preferences.AlarmSpecification are echoed,
    never evaluated. Pagination (MaxRecords, NextToken) is ignored: a group's history
    in a test is short. The error messages are ours; AWS does not document its wording.
    """
    FakeAutoScalingGroup.instance_refreshes = ()  # type: ignore[attr-defined]

    def start(self: AutoScalingResponse) -> ActionResult:
        group = _group(self)
        refresh = _record(self, group)
        group.instance_refreshes = (refresh, *group.instance_refreshes)  # type: ignore[attr-defined]
        return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})

    def describe(self: AutoScalingResponse) -> ActionResult:
        refreshes = _group(self).instance_refreshes  # type: ignore[attr-defined]
        wanted = self._get_param("InstanceRefreshIds")
        if wanted:
            refreshes = [refresh for refresh in refreshes if refresh["InstanceRefreshId"] in wanted]
        return ActionResult({"InstanceRefreshes": list(refreshes)})

    def cancel(self: AutoScalingResponse) -> ActionResult:
        name = _group(self).name
        raise ActiveInstanceRefreshNotFoundError(
            f"No in progress or pending Instance Refresh found for Auto Scaling group {name}"
        )

    AutoScalingResponse.start_instance_refresh = start  # type: ignore[attr-defined]
    AutoScalingResponse.describe_instance_refreshes = describe  # type: ignore[attr-defined]
    AutoScalingResponse.cancel_instance_refresh = cancel  # type: ignore[attr-defined]
