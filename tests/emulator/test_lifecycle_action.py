"""CompleteLifecycleAction: answered for a known hook, group and member instance, refused otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from botocore.parsers import ResponseParserError  # type: ignore[import-untyped]

from tests.emulator.builders import Clients, template_group

HOOK = "drain"


def _group_with_hook(clients: Clients, name: str) -> str:
    """A one-instance group with a termination hook; return the instance id."""
    group = template_group(clients, name, "10.22", MinSize=1, DesiredCapacity=1)
    clients("autoscaling").put_lifecycle_hook(
        LifecycleHookName=HOOK,
        AutoScalingGroupName=name,
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=300,
    )
    instance: str = group["Instances"][0]["InstanceId"]
    return instance


def _complete(clients: Clients, group: str, **request: Any) -> dict[str, Any]:
    answer: dict[str, Any] = clients("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName=group,
        **{"LifecycleHookName": HOOK, "LifecycleActionResult": "CONTINUE", **request},
    )
    return answer


@pytest.mark.parametrize("result", ["CONTINUE", "ABANDON"])
def test_completes_for_a_member_instance(corrected: Clients, unique_name: str, result: str) -> None:
    instance = _group_with_hook(corrected, unique_name)
    answer = _complete(corrected, unique_name, InstanceId=instance, LifecycleActionResult=result)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert set(answer) == {"ResponseMetadata"}, "the response has no fields"


def test_refuses_what_names_no_pending_action(corrected: Clients, unique_name: str) -> None:
    instance = _group_with_hook(corrected, unique_name)
    refused = {
        "unknown hook": {"InstanceId": instance, "LifecycleHookName": "nope"},
        "instance outside the group": {"InstanceId": "i-0123456789abcdef0"},
        "token moto never issued": {"LifecycleActionToken": "bcd2f1b8-9a78-44d3-8a7a-4dd07d7cf635"},
        "unknown result": {"InstanceId": instance, "LifecycleActionResult": "RETRY"},
    }
    for reason, request in refused.items():
        with pytest.raises(ClientError) as caught:
            _complete(corrected, unique_name, **request)
        assert caught.value.response["Error"]["Code"] == "ValidationError", reason
    with pytest.raises(ClientError, match="ValidationError"):
        _complete(corrected, f"{unique_name}-missing", InstanceId=instance)


def test_plain_moto_still_lacks_complete_lifecycle_action(plain: Clients, unique_name: str) -> None:
    instance = _group_with_hook(plain, unique_name)
    # moto answers an action it does not implement with an HTML 500 page.
    with pytest.raises(ResponseParserError, match="500 Internal Server Error"):
        _complete(plain, unique_name, InstanceId=instance)


def _heartbeat(clients: Clients, group: str, **request: Any) -> dict[str, Any]:
    answer: dict[str, Any] = clients("autoscaling").record_lifecycle_action_heartbeat(
        AutoScalingGroupName=group, **{"LifecycleHookName": HOOK, **request}
    )
    return answer


def test_a_heartbeat_is_recorded_for_a_member_instance(corrected: Clients, unique_name: str) -> None:
    instance = _group_with_hook(corrected, unique_name)
    answer = _heartbeat(corrected, unique_name, InstanceId=instance)
    assert set(answer) == {"ResponseMetadata"}, "the response has no fields"
    with pytest.raises(ClientError, match="ValidationError"):
        _heartbeat(corrected, unique_name, InstanceId=instance, LifecycleHookName="nope")
    with pytest.raises(ClientError, match="ValidationError"):
        _heartbeat(corrected, unique_name, InstanceId="i-0123456789abcdef0")


def test_plain_moto_still_lacks_record_lifecycle_action_heartbeat(plain: Clients, unique_name: str) -> None:
    instance = _group_with_hook(plain, unique_name)
    with pytest.raises(ResponseParserError, match="500 Internal Server Error"):
        _heartbeat(plain, unique_name, InstanceId=instance)
