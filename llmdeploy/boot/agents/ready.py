"""AWS: complete the group's launch lifecycle hook once the engine answers through the proxy.

The group keeps a new instance out of its target groups (and out of alarms and promotion gates) until
the hook completes. While the model loads, a heartbeat every $READY_HEARTBEAT_SECONDS keeps the hook
waiting; an engine still not answering after $READY_TIMEOUT_SECONDS is abandoned, so the group
replaces the instance (as it does when this agent never reports: the hook's default result is ABANDON).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from .aws import identity
from .metadata import Metadata, aws_client, log, request


def healthy() -> bool:
    try:
        status, _ = request("GET", os.environ["PROXY_HEALTH_URL"], timeout=5)
    except OSError:
        return False
    return status == 200


class Hook:
    def __init__(self, metadata: Metadata) -> None:
        self.instance, self.group = identity(metadata)
        self.name = os.environ["LAUNCH_HOOK"]

    def _names(self) -> dict[str, str]:
        return {
            "LifecycleHookName": self.name,
            "AutoScalingGroupName": self.group,
            "InstanceId": self.instance,
        }

    def heartbeat(self) -> None:
        try:
            aws_client("autoscaling").record_lifecycle_action_heartbeat(**self._names())
            log("the engine is still loading: launch hook heartbeat recorded")
        except Exception as error:  # the next heartbeat may get through; the hook allows a few misses
            log(f"launch hook heartbeat not recorded: {error}")

    def complete(self, result: str) -> None:
        try:
            aws_client("autoscaling").complete_lifecycle_action(LifecycleActionResult=result, **self._names())
            log(f"launch hook {self.name} completed with {result}")
        except Exception as error:  # e.g. after a reboot: the instance is in service already
            log(f"no launch hook {self.name} to complete with {result}: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--poll-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    hook = Hook(Metadata("aws"))
    started = beat = time.time()
    timeout, every = float(os.environ["READY_TIMEOUT_SECONDS"]), float(os.environ["READY_HEARTBEAT_SECONDS"])
    while not healthy():
        if time.time() - started >= timeout:
            log(f"the engine did not answer within {timeout:.0f} s: giving this instance up")
            hook.complete("ABANDON")
            return 0
        if time.time() - beat >= every:
            hook.heartbeat()
            beat = time.time()
        time.sleep(args.poll_seconds)
    hook.complete("CONTINUE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
