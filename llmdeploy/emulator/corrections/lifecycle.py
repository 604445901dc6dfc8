"""CompleteLifecycleAction and RecordLifecycleActionHeartbeat, which moto 5.2.5 does not implement."""

from __future__ import annotations

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import AutoScalingBackend
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult

RESULTS = ("CONTINUE", "ABANDON")


def _check_action(backend: AutoScalingBackend, group: str, hook: str, instance: str | None) -> None:
    """Raise the ValidationError AWS answers for a hook, group or instance that is not there."""
    if group not in backend.autoscaling_groups:
        raise ValidationError(f"Group {group} not found")
    if f"{group}_{hook}" not in backend.lifecycle_hooks:
        raise ValidationError(f"No Lifecycle Hook found with name {hook} for group {group}")
    if instance is None:
        # moto never issues lifecycle action tokens, so any token names no pending action.
        raise ValidationError("No active Lifecycle Action found for the given token")
    members = {state.instance.id for state in backend.autoscaling_groups[group].instance_states}
    if instance not in members:
        raise ValidationError(f"No active Lifecycle Action found with instance ID {instance}")


def complete_lifecycle_action() -> None:
    """CompleteLifecycleAction answers as AWS does for a known hook, group and instance.

    AWS API reference, CompleteLifecycleAction: completes the lifecycle action of a
    hook (LifecycleHookName and AutoScalingGroupName, both required) for the instance
    named by InstanceId or by LifecycleActionToken, with LifecycleActionResult
    CONTINUE or ABANDON; the response has no fields. moto 5.2.5 has no handler, so
    the spot watcher's call after draining an interrupted instance fails locally.

    The one leniency: AWS also requires the instance to be waiting on that hook
    (Pending:Wait or Terminating:Wait). moto never puts an instance into a wait state,
    so any in-service member of the group is accepted. Nothing changes state: on AWS
    the instance would then finish launching or terminating. The ValidationError
    messages are ours; AWS's wording is not documented.
    """

    def handler(self: AutoScalingResponse) -> ActionResult:
        result = self._get_param("LifecycleActionResult")
        if result not in RESULTS:
            raise ValidationError(f"Valid lifecycle action results are: {', '.join(RESULTS)}")
        _check_action(
            self.autoscaling_backend,
            group=self._get_param("AutoScalingGroupName"),
            hook=self._get_param("LifecycleHookName"),
            instance=self._get_param("InstanceId"),
        )
        return EmptyResult()

    AutoScalingResponse.complete_lifecycle_action = handler  # type: ignore[attr-defined]


def record_lifecycle_action_heartbeat() -> None:
    """RecordLifecycleActionHeartbeat answers as AWS does for a known hook, group and instance.

    AWS API reference, RecordLifecycleActionHeartbeat: restarts the timeout of a lifecycle action
    (LifecycleHookName and AutoScalingGroupName required; InstanceId or LifecycleActionToken);
    the response has no fields. The agent that completes the launch hook (`llmdeploy-ready`)
    records heartbeats while a model loads longer than one heartbeat timeout. Same leniency as
    CompleteLifecycleAction: any in-service member of the group is accepted, and no timeout runs.
    """

    def handler(self: AutoScalingResponse) -> ActionResult:
        _check_action(
            self.autoscaling_backend,
            group=self._get_param("AutoScalingGroupName"),
            hook=self._get_param("LifecycleHookName"),
            instance=self._get_param("InstanceId"),
        )
        return EmptyResult()

    AutoScalingResponse.record_lifecycle_action_heartbeat = handler  # type: ignore[attr-defined]
