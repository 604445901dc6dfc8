"""Instance refreshes: started, described newest first as finished, and nothing left to cancel."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from botocore.parsers import ResponseParserError  # type: ignore[import-untyped]

from tests.emulator.builders import Clients, template_group

PREFERENCES = {
    "MinHealthyPercentage": 100,
    "MaxHealthyPercentage": 200,
    "CheckpointDelay": 600,
    "AutoRollback": True,
    "AlarmSpecification": {"Alarms": ["fleet-5xx-rate", "fleet-unhealthy-hosts"]},
}


def _start(clients: Clients, group: str) -> str:
    answer: dict[str, Any] = clients("autoscaling").start_instance_refresh(
        AutoScalingGroupName=group, Strategy="Rolling", Preferences=PREFERENCES
    )
    refresh: str = answer["InstanceRefreshId"]
    return refresh


def test_refreshes_are_described_newest_first_as_finished(corrected: Clients, unique_name: str) -> None:
    template_group(corrected, unique_name, "10.23")
    first, second = _start(corrected, unique_name), _start(corrected, unique_name)
    autoscaling = corrected("autoscaling")
    refreshes = autoscaling.describe_instance_refreshes(AutoScalingGroupName=unique_name)["InstanceRefreshes"]
    assert [refresh["InstanceRefreshId"] for refresh in refreshes] == [second, first]
    latest = refreshes[0]
    assert (latest["Status"], latest["PercentageComplete"]) == ("Successful", 100)
    assert latest["StartTime"] <= latest["EndTime"]
    assert latest["Preferences"] == PREFERENCES
    only = autoscaling.describe_instance_refreshes(
        AutoScalingGroupName=unique_name, InstanceRefreshIds=[first]
    )
    assert [refresh["InstanceRefreshId"] for refresh in only["InstanceRefreshes"]] == [first]


def test_cancel_finds_no_active_refresh(corrected: Clients, unique_name: str) -> None:
    template_group(corrected, unique_name, "10.24")
    _start(corrected, unique_name)
    with pytest.raises(ClientError) as caught:
        corrected("autoscaling").cancel_instance_refresh(AutoScalingGroupName=unique_name)
    assert caught.value.response["Error"]["Code"] == "ActiveInstanceRefreshNotFound"


def test_unknown_group_is_refused(corrected: Clients, unique_name: str) -> None:
    with pytest.raises(ClientError) as caught:
        _start(corrected, unique_name)
    assert caught.value.response["Error"]["Code"] == "ValidationError"


def test_plain_moto_still_lacks_instance_refreshes(plain: Clients, unique_name: str) -> None:
    template_group(plain, unique_name, "10.23")
    # moto answers an action it does not implement with an HTML 500 page.
    with pytest.raises(ResponseParserError, match="500 Internal Server Error"):
        _start(plain, unique_name)
