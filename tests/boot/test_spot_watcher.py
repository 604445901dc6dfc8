"""The spot watcher, run for real: loopback metadata stand-ins, and the AWS emulator for AWS calls."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.catalog import Cloud
from llmdeploy.emulator import EmulatorHandle, emulator_env
from llmdeploy.instance import TERMINATION_HOOK_NAME
from tests.boot.bundles import first_fleet, run_agent
from tests.boot.stand_ins import Answer, Call, StandIn, after, forwarding, routes, serving
from tests.fixtures_aws import AwsClient

pytestmark = pytest.mark.process

IMDS_TOKEN = "imds-session-token"
COMPLETED = (
    '<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
    "<CompleteLifecycleActionResult/><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
    "</CompleteLifecycleActionResponse>"
)


def imds(table: dict[str, Any]) -> Any:
    """EC2 IMDSv2: a token from PUT /latest/api/token, required on every GET (401 without)."""
    answer = routes(table)

    def app(call: Call) -> Answer:
        if call.method == "PUT" and call.path == "/latest/api/token":
            return 200, IMDS_TOKEN
        if call.headers.get("x-aws-ec2-metadata-token") != IMDS_TOKEN:
            return 401, "unauthorized"
        return answer(call)

    return app


def _watch(env_name: str, cloud: Cloud, tmp_path: Path, env: dict[str, str], polls: int, every: float) -> Any:
    """Run the bundled spot watcher of the example environment's first fleet on `cloud`."""
    fleet = first_fleet(env_name, cloud)
    args = ("--poll-seconds", str(every), "--max-polls", str(polls))
    return run_agent("spot_watcher", env_name, fleet, tmp_path, env, *args)


def _marker_command(path: Path) -> str:
    return f"date +%s.%N > {path}"


@pytest.fixture
def fleet_group(aws_client: AwsClient, unique_name: str) -> dict[str, str]:
    """An ASG with one instance registered in a target group, and the termination hook."""
    ec2, elb, autoscaling = aws_client("ec2"), aws_client("elbv2"), aws_client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone="us-east-1a")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=unique_name, LaunchTemplateData={"ImageId": image, "InstanceType": "g6.xlarge"}
    )
    target_group = elb.create_target_group(
        Name=unique_name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=unique_name,
        LaunchTemplate={"LaunchTemplateName": unique_name},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        VPCZoneIdentifier=subnet["Subnet"]["SubnetId"],
        TargetGroupARNs=[target_group],
    )
    autoscaling.put_lifecycle_hook(
        LifecycleHookName=TERMINATION_HOOK_NAME,
        AutoScalingGroupName=unique_name,
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=300,
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[unique_name])[
        "AutoScalingGroups"
    ][0]
    return {
        "group": unique_name,
        "instance": group["Instances"][0]["InstanceId"],
        "target_group": target_group,
    }


def _registered(aws_client: AwsClient, target_group: str) -> list[str]:
    health = aws_client("elbv2").describe_target_health(TargetGroupArn=target_group)
    return [
        entry["Target"]["Id"]
        for entry in health["TargetHealthDescriptions"]
        if entry["TargetHealth"]["State"] not in ("draining", "unused")
    ]


@pytest.fixture
def lifecycle_proxy(emulator: EmulatorHandle) -> Iterator[tuple[StandIn, list[dict[str, str]]]]:
    """The emulator behind a loopback proxy that answers CompleteLifecycleAction (moto lacks it)."""
    completed: list[dict[str, str]] = []

    def complete(params: dict[str, str]) -> Answer:
        completed.append({**params, "at": str(time.time())})
        return 200, COMPLETED, "text/xml"

    with serving(forwarding(emulator.endpoint_url, {"CompleteLifecycleAction": complete})) as proxy:
        yield proxy, completed


def _aws_env(emulator: EmulatorHandle, proxy: StandIn, metadata: StandIn, stopped: Path) -> dict[str, str]:
    return {
        **emulator_env(emulator),
        "AWS_ENDPOINT_URL": proxy.url,
        "METADATA_URL": metadata.url,
        "STOP_SECONDS": "5",
        "STOP_COMMAND": _marker_command(stopped),
    }


class Busy:
    """A stand-in engine's metrics: `running` requests in flight until `until`, then none."""

    def __init__(self, running: int, for_s: float) -> None:
        self.running, self.until = running, time.time() + for_s
        self.idle_at = 0.0

    def __call__(self, call: Call) -> Answer:
        running = self.running if time.time() < self.until else 0
        if not running and not self.idle_at:
            self.idle_at = time.time()
        return 200, f'tgi_queue_size 0\ntgi_batch_current_size{{shard="0"}} {running}\n'


def _flag_marker(tmp_path: Path) -> Path:
    """The drain flag the agents are told about (bundles.agent_command puts it under tmp_path)."""
    return tmp_path / "run" / "draining"


def test_aws_spot_notice_deregisters_drains_stops_and_completes_the_hook(
    emulator: EmulatorHandle,
    aws_client: AwsClient,
    fleet_group: dict[str, str],
    lifecycle_proxy: tuple[StandIn, list[dict[str, str]]],
    tmp_path: Path,
) -> None:
    proxy, completed = lifecycle_proxy
    assert _registered(aws_client, fleet_group["target_group"]) == [fleet_group["instance"]]
    deadline = time.time() + 120
    notice = json.dumps({"action": "terminate", "time": datetime.fromtimestamp(deadline, UTC).isoformat()})
    table = {
        "/latest/meta-data/instance-id": lambda: fleet_group["instance"],
        "/latest/meta-data/tags/instance/aws:autoscaling:groupName": lambda: fleet_group["group"],
        "/latest/meta-data/spot/instance-action": after(1.0, notice),
    }
    stopped = tmp_path / "stopped"
    with serving(imds(table)) as metadata:
        env = _aws_env(emulator, proxy, metadata, stopped)
        result = _watch("dev", "aws", tmp_path, env, polls=100, every=0.2)
    assert result.returncode == 0, result.stderr
    assert _registered(aws_client, fleet_group["target_group"]) == [], result.stderr
    assert _flag_marker(tmp_path).exists()
    assert len(completed) == 1
    assert {
        key: completed[0][key] for key in ("LifecycleHookName", "AutoScalingGroupName", "InstanceId")
    } == {
        "LifecycleHookName": TERMINATION_HOOK_NAME,
        "AutoScalingGroupName": fleet_group["group"],
        "InstanceId": fleet_group["instance"],
    }
    assert completed[0]["LifecycleActionResult"] == "CONTINUE"
    deregistered = next(call.at for call in proxy.calls if b"Action=DeregisterTargets" in call.body)
    stop_at = float(stopped.read_text())
    assert deregistered < stop_at < float(completed[0]["at"]) < deadline


def test_aws_without_notice_does_nothing(
    emulator: EmulatorHandle,
    aws_client: AwsClient,
    fleet_group: dict[str, str],
    lifecycle_proxy: tuple[StandIn, list[dict[str, str]]],
    tmp_path: Path,
) -> None:
    proxy, completed = lifecycle_proxy
    stopped = tmp_path / "stopped"
    with serving(imds({"/latest/meta-data/instance-id": lambda: fleet_group["instance"]})) as metadata:
        env = _aws_env(emulator, proxy, metadata, stopped)
        result = _watch("dev", "aws", tmp_path, env, polls=5, every=0.05)
        polled = metadata.paths().count("/latest/meta-data/spot/instance-action")
    assert result.returncode == 0, result.stderr
    assert polled == 5
    assert _registered(aws_client, fleet_group["target_group"]) == [fleet_group["instance"]]
    assert not stopped.exists() and completed == [] and proxy.calls == []


def test_aws_rebalance_recommendation_alone_keeps_serving(tmp_path: Path) -> None:
    table = {
        "/latest/meta-data/events/recommendations/rebalance": lambda: '{"noticeTime": "2026-01-01T00:00:00Z"}'
    }
    stopped = tmp_path / "stopped"
    with serving(imds(table)) as metadata:
        env = {"METADATA_URL": metadata.url, "STOP_COMMAND": _marker_command(stopped)}
        result = _watch("dev", "aws", tmp_path, env, polls=4, every=0.05)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("rebalance recommended") == 1
    assert not stopped.exists()


def test_unreachable_metadata_service_is_retried_without_crashing(tmp_path: Path) -> None:
    with serving(routes({})) as gone:
        url = gone.url  # a port that was just ours and now refuses connections
    env = {"METADATA_URL": url}
    result = _watch("dev", "aws", tmp_path, env, polls=4, every=0.05)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("metadata service unreachable") == 4
    assert "Traceback" not in result.stderr


def test_aws_scale_in_leaves_deregistration_to_the_group_and_completes_the_hook(
    emulator: EmulatorHandle,
    aws_client: AwsClient,
    fleet_group: dict[str, str],
    lifecycle_proxy: tuple[StandIn, list[dict[str, str]]],
    tmp_path: Path,
) -> None:
    proxy, completed = lifecycle_proxy
    table = {
        "/latest/meta-data/instance-id": lambda: fleet_group["instance"],
        "/latest/meta-data/tags/instance/aws:autoscaling:groupName": lambda: fleet_group["group"],
        "/latest/meta-data/autoscaling/target-lifecycle-state": after(0.5, "Terminated"),
    }
    stopped = tmp_path / "stopped"
    busy = Busy(running=2, for_s=2.0)
    with serving(imds(table)) as metadata, serving(busy) as engine:
        env = {**_aws_env(emulator, proxy, metadata, stopped), "ENGINE_METRICS_URL": f"{engine.url}/metrics"}
        result = _watch("dev", "aws", tmp_path, env, polls=100, every=0.2)
    assert result.returncode == 0, result.stderr
    # The group deregistered the instance and drained it before the hook ran: no second deregistration.
    assert not any(b"Action=DeregisterTargets" in call.body for call in proxy.calls)
    assert _registered(aws_client, fleet_group["target_group"]) == [fleet_group["instance"]]
    assert _flag_marker(tmp_path).exists()
    # Streams still in flight finish before the engine stops; then the hook completes.
    assert busy.idle_at <= float(stopped.read_text()) < float(completed[0]["at"])
    assert completed[0]["LifecycleActionResult"] == "CONTINUE"


def test_a_stop_outlasting_the_notice_still_completes_the_lifecycle_action(
    emulator: EmulatorHandle,
    fleet_group: dict[str, str],
    lifecycle_proxy: tuple[StandIn, list[dict[str, str]]],
    tmp_path: Path,
) -> None:
    """Review aws #7: `docker stop` may take 90 s with 30 s of notice left; the watcher must not crash."""
    proxy, completed = lifecycle_proxy
    deadline = time.time() + 8
    notice = json.dumps({"action": "terminate", "time": datetime.fromtimestamp(deadline, UTC).isoformat()})
    table = {
        "/latest/meta-data/instance-id": lambda: fleet_group["instance"],
        "/latest/meta-data/tags/instance/aws:autoscaling:groupName": lambda: fleet_group["group"],
        "/latest/meta-data/spot/instance-action": lambda: notice,
    }
    with serving(imds(table)) as metadata:
        env = {**_aws_env(emulator, proxy, metadata, tmp_path / "unused"), "STOP_COMMAND": "sleep 60"}
        result = _watch("dev", "aws", tmp_path, env, polls=3, every=0.2)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "STOP_COMMAND still running" in result.stderr
    assert len(completed) == 1 and float(completed[0]["at"]) < deadline + 2


def _gcp_env(metadata: StandIn, engine: StandIn, tmp_path: Path) -> dict[str, str]:
    return {
        "METADATA_URL": metadata.url,
        "ENGINE_METRICS_URL": f"{engine.url}/metrics",
        "STOP_COMMAND": _marker_command(tmp_path / "stopped"),
        "START_COMMAND": _marker_command(tmp_path / "started"),
    }


def test_gcp_preemption_drains_at_once_and_lets_streams_finish_before_the_stop(tmp_path: Path) -> None:
    table = {"/instance/preempted": after(0.5, "TRUE"), "/instance/maintenance-event": lambda: "NONE"}
    busy = Busy(running=3, for_s=4.0)
    with serving(routes(table)) as metadata, serving(busy) as engine:
        started = time.time()
        result = _watch(
            "staging", "gcp", tmp_path, _gcp_env(metadata, engine, tmp_path), polls=100, every=0.1
        )
        headers = {call.headers.get("metadata-flavor") for call in metadata.calls}
    assert result.returncode == 0, result.stderr
    assert headers == {"Google"}
    flagged = _flag_marker(tmp_path).stat().st_mtime
    # Within the 30 s notice: the flag at once, streams finish (4 s here), then the engine stops.
    assert started < flagged < started + 2
    assert flagged < busy.idle_at <= float((tmp_path / "stopped").read_text()) < started + 30


def test_gcp_host_maintenance_drains_then_serves_again_if_the_vm_stays_up(tmp_path: Path) -> None:
    """Review gcp #12: on-demand GPU VMs stop and restart for host maintenance; it is no preemption."""
    events = iter(["NONE", "TERMINATE_ON_HOST_MAINTENANCE", "TERMINATE_ON_HOST_MAINTENANCE"])
    table = {
        "/instance/preempted": lambda: "FALSE",
        "/instance/maintenance-event": lambda: next(events, "NONE"),
    }
    with serving(routes(table)) as metadata, serving(Busy(running=0, for_s=0)) as engine:
        result = _watch("staging", "gcp", tmp_path, _gcp_env(metadata, engine, tmp_path), polls=6, every=0.1)
    assert result.returncode == 0, result.stderr
    assert "host maintenance: leaving the fleet" in result.stderr
    assert float((tmp_path / "stopped").read_text()) < float((tmp_path / "started").read_text())
    assert not _flag_marker(tmp_path).exists()


def _scheduled_events(vm: str, other_vm: str, kind: str = "Preempt", first_call_s: float = 0.0) -> Any:
    events = {
        "DocumentIncarnation": 2,
        "Events": [
            {"EventId": "other", "EventType": kind, "Resources": [other_vm], "NotBefore": ""},
            {"EventId": "ours", "EventType": kind, "Resources": [vm], "NotBefore": ""},
        ],
    }
    approved: list[dict[str, Any]] = []
    calls: list[float] = []

    def app(call: Call) -> Answer:
        if call.method == "POST":
            approved.append({**json.loads(call.body), "at": time.time()})
            return 200, ""
        if call.path.startswith("/scheduledevents"):
            calls.append(time.time())
            # The first call enables Scheduled Events and may take up to two minutes.
            time.sleep(first_call_s if len(calls) == 1 else 0)
            return 200, json.dumps(events)
        return (200, vm) if call.path.startswith("/instance/compute/name") else (404, "")

    return app, approved


@pytest.mark.parametrize("kind", ["Preempt", "Reboot"])
def test_azure_event_for_this_vm_is_drained_then_approved(tmp_path: Path, kind: str) -> None:
    app, approved = _scheduled_events("vmss_3", "vmss_7", kind, first_call_s=3.0)
    stopped = tmp_path / "stopped"
    with serving(app) as metadata:
        env = {"METADATA_URL": metadata.url, "STOP_COMMAND": _marker_command(stopped)}
        result = _watch("prod", "azure", tmp_path, env, polls=1, every=0.1)
        headers = {call.headers.get("metadata") for call in metadata.calls}
    assert result.returncode == 0, result.stderr
    assert "unreachable" not in result.stderr  # the slow first call was waited for, not timed out
    assert headers == {"true"}
    assert [entry["StartRequests"] for entry in approved] == [[{"EventId": "ours"}]]
    assert _flag_marker(tmp_path).stat().st_mtime < float(stopped.read_text()) < approved[0]["at"]


def test_aws_engine_is_stopped_even_when_the_aws_api_is_unreachable(tmp_path: Path) -> None:
    deadline = time.time() + 12
    notice = json.dumps({"action": "terminate", "time": datetime.fromtimestamp(deadline, UTC).isoformat()})
    stopped = tmp_path / "stopped"
    with serving(routes({})) as gone:
        dead_api = gone.url
    with serving(imds({"/latest/meta-data/spot/instance-action": lambda: notice})) as metadata:
        env = {
            "METADATA_URL": metadata.url,
            "AWS_ENDPOINT_URL": dead_api,
            "AWS_ACCESS_KEY_ID": "unused",
            "AWS_SECRET_ACCESS_KEY": "unused",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "STOP_SECONDS": "5",
            "STOP_COMMAND": _marker_command(stopped),
        }
        result = _watch("dev", "aws", tmp_path, env, polls=3, every=1)
    assert result.returncode == 0, result.stderr
    assert "leaving the load balancer failed" in result.stderr
    assert "lifecycle action not completed" in result.stderr
    assert float(stopped.read_text()) < deadline
