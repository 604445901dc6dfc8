"""Corrections to moto's Auto Scaling groups: what Create/UpdateAutoScalingGroup keep."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from moto.autoscaling.models import FakeAutoScalingGroup
from moto.autoscaling.responses import AutoScalingResponse

# Reads one parameter of a Create/UpdateAutoScalingGroup request onto the group it names.
Recorder = Callable[[AutoScalingResponse, FakeAutoScalingGroup], None]


def _resubmittable(policy: dict[str, Any]) -> dict[str, Any]:
    """Return a stored MixedInstancesPolicy in the shape moto accepts as request input.

    moto rewrites the stored launch template specification to carry both the id and
    the name, but rejects a request carrying both; keep only the id and version.
    """
    again = copy.deepcopy(policy)
    spec = again.get("LaunchTemplate", {}).get("LaunchTemplateSpecification")
    if isinstance(spec, dict) and spec.get("LaunchTemplateId"):
        spec.pop("LaunchTemplateName", None)
    return again


def keep_mixed_instances_policy() -> None:
    """UpdateAutoScalingGroup without MixedInstancesPolicy keeps the stored policy.

    AWS API reference, UpdateAutoScalingGroup: only the parameters you specify are
    changed; an omitted MixedInstancesPolicy leaves the group's policy as it is. moto's
    `FakeAutoScalingGroup.update` assigns the parameter unconditionally, so an update
    that only sets sizes wipes the policy. The Terraform provider makes exactly that
    call after creating a group with `initial_lifecycle_hook` (create at size 0, add
    hooks, then set sizes), and the next plan wants to add the policy back.

    The stored policy is resubmitted only when the request names no other launch
    source: a request with LaunchTemplate or LaunchConfigurationName switches the
    group away from the policy, as on AWS. Resubmitting (rather than restoring the
    attribute afterwards) keeps the policy in force while moto computes how many
    instances the new desired capacity needs (weights, on-demand base).
    """
    original = FakeAutoScalingGroup.update

    @functools.wraps(original)
    def update(self: FakeAutoScalingGroup, *args: Any, **kwargs: Any) -> None:
        omitted = (
            kwargs.get("mixed_instances_policy") is None
            and not kwargs.get("launch_template")
            and not kwargs.get("launch_config_name")
        )
        if omitted and self.mixed_instances_policy:
            kwargs["mixed_instances_policy"] = _resubmittable(self.mixed_instances_policy)
        original(self, *args, **kwargs)

    FakeAutoScalingGroup.update = update  # type: ignore[method-assign]


def _record_on_group_writes(record: Recorder) -> None:
    """Call `record(response, group)` after each successful Create/UpdateAutoScalingGroup.

    moto's handlers pass the backend a fixed list of parameters and drop the rest;
    reading a dropped one from the request afterwards leaves moto's own logic alone.
    """
    for action in ("create_auto_scaling_group", "update_auto_scaling_group"):
        original = getattr(AutoScalingResponse, action)

        def handler(self: AutoScalingResponse, _original: Any = original) -> Any:
            result = _original(self)
            record(self, self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")])
            return result

        setattr(AutoScalingResponse, action, functools.wraps(original)(handler))


def keep_default_instance_warmup() -> None:
    """DescribeAutoScalingGroups returns DefaultInstanceWarmup as Create/Update set it.

    AWS API reference, CreateAutoScalingGroup and UpdateAutoScalingGroup:
    DefaultInstanceWarmup is the group's default instance warmup in seconds, returned
    by DescribeAutoScalingGroups (AutoScalingGroup data type); "to remove a value that
    you previously set, include the property but specify -1 for the value". moto drops
    the parameter, so the provider reads 0 and plans `default_instance_warmup 0 -> 900`
    on every run.
    """
    FakeAutoScalingGroup.default_instance_warmup = None  # type: ignore[attr-defined]

    def record(response: AutoScalingResponse, group: FakeAutoScalingGroup) -> None:
        warmup = response._get_int_param("DefaultInstanceWarmup")
        if warmup is not None:
            group.default_instance_warmup = None if warmup == -1 else warmup  # type: ignore[attr-defined]

    _record_on_group_writes(record)


# What AWS reports for a group created without a CapacityReservationSpecification.
DEFAULT_CAPACITY_RESERVATION = {"CapacityReservationPreference": "default"}


def report_capacity_reservation_preference() -> None:
    """DescribeAutoScalingGroups returns the group's CapacityReservationSpecification.

    AWS API reference, CapacityReservationSpecification (Auto Scaling): the preference
    is capacity-reservations-only, capacity-reservations-first, none or `default`
    ("Auto Scaling uses the Capacity Reservation preference from your launch
    template"), which is what a group created without one has. The reference does not
    show the describe output for such a group; the provider does: hashicorp/aws 5.100
    (`capacity_reservation_specification`, added in PR #42380, whose preference is
    optional and computed) turns an absent element into a block with a null preference
    that the next plan sees as a change to "", yet its acceptance tests, which re-plan
    after every apply (TestAccAutoScalingGroup_basic among those run for that PR), pass
    against AWS. So AWS returns the element, and for such a group it can only
    say `default`. moto neither stores nor returns it.
    """
    FakeAutoScalingGroup.capacity_reservation_specification = DEFAULT_CAPACITY_RESERVATION  # type: ignore[attr-defined]

    def record(response: AutoScalingResponse, group: FakeAutoScalingGroup) -> None:
        specification = response._get_param("CapacityReservationSpecification")
        if specification:
            group.capacity_reservation_specification = specification  # type: ignore[attr-defined]

    _record_on_group_writes(record)


def default_health_check_grace_period() -> None:
    """CreateAutoScalingGroup without HealthCheckGracePeriod gives the group a grace of 0 s.

    AWS API reference, CreateAutoScalingGroup: HealthCheckGracePeriod "Default: 0 seconds" (the
    300 s default is the console's: "Set the health check grace period", user guide). moto
    stores `HealthCheckGracePeriod or 300`, so a group created without one (the provider omits
    a 0 it was given: `d.GetOk`) reports 300 and the next plan wants `300 -> 0`.
    """
    original = AutoScalingResponse.create_auto_scaling_group

    @functools.wraps(original)
    def create(self: AutoScalingResponse) -> Any:
        result = original(self)
        group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
        group.health_check_grace_period = self._get_int_param("HealthCheckGracePeriod") or 0
        return result

    AutoScalingResponse.create_auto_scaling_group = create  # type: ignore[method-assign]


def _on_demand_count(policy: dict[str, Any], instances: int) -> int:
    """How many of a mixed group's instances are on-demand: the base, then the share above it.

    The same arithmetic moto uses to size the group (`FakeAutoScalingGroup.set_desired_capacity`),
    so the split of launched instances matches the counts it launched for.
    """
    distribution = policy.get("InstancesDistribution", {})
    base = int(distribution.get("OnDemandBaseCapacity", 0))
    percent = int(distribution.get("OnDemandPercentageAboveBaseCapacity", 100))
    if instances <= base:
        return instances
    return base + int((instances - base) * percent / 100)


def mark_spot_instances() -> None:
    """Instances a mixed instances policy launches as spot report `InstanceLifecycle: spot`.

    DescribeInstances sets InstanceLifecycle to "spot" for spot capacity and leaves it out for
    on-demand (EC2 API reference, Instance). moto sizes a mixed group's on-demand and spot
    shares but launches every instance as on-demand, so `llmdeploy status` showed an all-spot
    fleet as on-demand at on-demand prices. The oldest instances are the on-demand ones: AWS
    keeps the base when it scales in, and so does this split.
    """
    original = FakeAutoScalingGroup.replace_autoscaling_group_instances

    @functools.wraps(original)
    def replace(self: FakeAutoScalingGroup, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        policy = self.mixed_instances_policy
        if not policy:
            return
        # Instances in Standby keep their market: they count toward neither the desired capacity
        # nor the on-demand base, which the group's replacement for them fills.
        counted = [state for state in self.instance_states if state.lifecycle_state != "Standby"]
        on_demand = _on_demand_count(policy, len(counted))
        for index, state in enumerate(counted):
            state.instance.lifecycle = None if index < on_demand else "spot"

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace  # type: ignore[method-assign]
