"""Leave the fleet gracefully when the cloud reclaims this VM (spot/preemption) or scales it in.

Order matters: out of the load balancer first (no new requests), then let in-flight streams finish
within the notice, then stop the engine, then tell the cloud it may proceed. Settings come from the
environment (/etc/llmdeploy/agents.env); see templates/README.md.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .metadata import Metadata, aws_client, log, request

#: Notice lengths when the cloud does not say: GCP preemption and Azure Preempt give about 30 s.
SHORT_NOTICE_S = 30.0


@dataclass(frozen=True)
class Notice:
    reason: str
    deadline: float
    event_id: str = ""


class Aws:
    """EC2: spot/instance-action, the ASG's target lifecycle state, and the rebalance hint."""

    def __init__(self, metadata: Metadata) -> None:
        self.metadata = metadata
        self.rebalance_seen = False
        self.instance = self.group = ""
        self.target_groups: list[str] = []

    def poll(self) -> Notice | None:
        action = self.metadata.get_json("latest/meta-data/spot/instance-action")
        if action:
            when = datetime.fromisoformat(action["time"].replace("Z", "+00:00")).timestamp()
            return Notice(f"spot {action['action']}", when)
        if self.metadata.get("latest/meta-data/autoscaling/target-lifecycle-state") == "Terminated":
            return Notice("scale-in", time.time() + _seconds("DRAIN_SECONDS") + _seconds("STOP_SECONDS"))
        if not self.rebalance_seen and self.metadata.get("latest/meta-data/events/recommendations/rebalance"):
            # With capacity rebalancing the group starts a replacement first, then terminates this
            # instance through the lifecycle hook: keep serving until then.
            self.rebalance_seen = True
            log("rebalance recommended: serving on until the group terminates this instance")
        return None

    def detach(self) -> None:
        self.instance = self.metadata.get("latest/meta-data/instance-id") or ""
        self.group = self.metadata.get("latest/meta-data/tags/instance/aws:autoscaling:groupName") or ""
        self.elb, self.autoscaling = aws_client("elbv2"), aws_client("autoscaling")
        found = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])
        groups: list[dict[str, Any]] = found["AutoScalingGroups"]
        arns = {arn for group in groups for arn in group.get("TargetGroupARNs", [])}
        arns |= {
            source["Identifier"]
            for group in groups
            for source in group.get("TrafficSources", [])
            if source.get("Type") == "elbv2"
        }
        self.target_groups = sorted(arns)
        for arn in self.target_groups:
            self.elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": self.instance}])
            log(f"deregistered {self.instance} from {arn}")

    def drained(self) -> bool:
        states = [
            health["TargetHealth"]["State"]
            for arn in self.target_groups
            for health in self.elb.describe_target_health(
                TargetGroupArn=arn, Targets=[{"Id": self.instance}]
            )["TargetHealthDescriptions"]
        ]
        return "draining" not in states

    def finish(self, notice: Notice) -> None:
        while True:
            try:
                self.autoscaling.complete_lifecycle_action(
                    LifecycleHookName=os.environ["LIFECYCLE_HOOK"],
                    AutoScalingGroupName=self.group,
                    LifecycleActionResult="CONTINUE",
                    InstanceId=self.instance,
                )
                log("lifecycle action completed")
                return
            except Exception as error:  # no action pending yet: the group may not have reacted
                if time.time() + 5 > notice.deadline:
                    log(f"lifecycle action not completed: {error}")
                    return
                time.sleep(5)


class Gcp:
    """GCE: instance/preempted turns TRUE about 30 s before the VM stops."""

    def __init__(self, metadata: Metadata) -> None:
        self.metadata = metadata

    def poll(self) -> Notice | None:
        if self.metadata.get("instance/preempted") == "TRUE":
            return Notice("preempted", time.time() + SHORT_NOTICE_S)
        if self.metadata.get("instance/maintenance-event") == "TERMINATE_ON_HOST_MAINTENANCE":
            return Notice("host maintenance", time.time() + SHORT_NOTICE_S)
        return None

    def detach(self) -> None:
        _run_setting("DRAIN_COMMAND", SHORT_NOTICE_S)

    def drained(self) -> bool:
        return False

    def finish(self, notice: Notice) -> None:
        """Nothing to acknowledge: GCE proceeds on its own."""


class Azure(Gcp):
    """Azure Scheduled Events: Preempt (spot eviction) or Terminate (scale-in) naming this VM."""

    EVENTS = "scheduledevents?api-version=2020-07-01"

    def poll(self) -> Notice | None:
        name = self.metadata.get("instance/compute/name?api-version=2021-02-01&format=text")
        for event in (self.metadata.get_json(self.EVENTS) or {}).get("Events", []):
            if event.get("EventType") in ("Preempt", "Terminate") and name in event.get("Resources", []):
                parsed = (
                    email.utils.parsedate_to_datetime(event["NotBefore"]) if event.get("NotBefore") else None
                )
                deadline = parsed.timestamp() if parsed else time.time() + SHORT_NOTICE_S
                return Notice(event["EventType"], deadline, event["EventId"])
        return None

    def finish(self, notice: Notice) -> None:
        # Approving the event lets Azure proceed now instead of waiting for NotBefore.
        body = {"StartRequests": [{"EventId": notice.event_id}]}
        status, _ = request("POST", f"{self.metadata.base_url}/{self.EVENTS}", {"Metadata": "true"}, body)
        log(f"scheduled event {notice.event_id} approved (HTTP {status})")


def _seconds(name: str) -> float:
    return float(os.environ[name])


def _run_setting(name: str, timeout: float) -> None:
    command = os.environ[name]
    result = subprocess.run(command, shell=True, timeout=max(timeout, 1), check=False)
    log(f"{name} exited with {result.returncode}")


def leave(cloud: Aws | Gcp, notice: Notice) -> None:
    """Out of the load balancer, drain within the notice, stop the engine, then let the cloud go on."""
    log(f"{notice.reason}: leaving the fleet, {notice.deadline - time.time():.0f} s of notice")
    # A failed step must not keep the engine running past the notice: log it and go on.
    detached = _attempt("leaving the load balancer", cloud.detach)
    drain_end = min(time.time() + _seconds("DRAIN_SECONDS"), notice.deadline - _seconds("STOP_SECONDS"))
    while time.time() < drain_end and not (detached and _attempt("reading the drain state", cloud.drained)):
        time.sleep(min(2.0, max(drain_end - time.time(), 0.0)))
    _run_setting("STOP_COMMAND", notice.deadline - time.time())
    _attempt("acknowledging the notice", lambda: cloud.finish(notice))


def _attempt(step: str, action: Callable[[], object]) -> bool:
    """Run one step of leaving; True if it ran and did not answer False."""
    try:
        return action() is not False
    except Exception as error:
        log(f"{step} failed: {error}")
        return False


def watch(cloud: Aws | Gcp, max_polls: int, poll_s: float) -> bool:
    """Poll until a notice arrives (True) or `max_polls` polls pass (0: forever)."""
    polls = 0
    while not max_polls or polls < max_polls:
        polls += 1
        try:
            notice = cloud.poll()
        except (OSError, ValueError) as error:
            log(f"metadata service unreachable ({error}); retrying")
            notice = None
        if notice:
            leave(cloud, notice)
            return True
        time.sleep(poll_s)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-polls", type=int, default=0, help="stop after this many polls (0: never)")
    parser.add_argument("--poll-seconds", type=float, default=float(os.environ.get("POLL_SECONDS", "5")))
    args = parser.parse_args(argv)
    cloud_name = os.environ["CLOUD"]
    metadata = Metadata(cloud_name)
    kinds: dict[str, type[Aws] | type[Gcp]] = {"aws": Aws, "gcp": Gcp, "azure": Azure}
    cloud = kinds[cloud_name](metadata)
    watch(cloud, args.max_polls, args.poll_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
