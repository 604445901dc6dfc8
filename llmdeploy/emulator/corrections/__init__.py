"""Narrow fidelity corrections to moto's models, applied before the emulator serves.

Each correction fixes one place where moto 5.2.5 answers differently from real AWS in a way
that makes Terraform see drift that does not exist (a second plan that is not empty), or
lacks an operation llmdeploy's own agents call. Each wraps (or adds) the fewest methods
it can and leaves every other behaviour of moto untouched, so a moto upgrade that fixes
the bug upstream only makes the correction redundant, never wrong. Every correction is
guarded by a test in tests/emulator/ that fails without it.

Corrections patch classes, not backend instances, so they survive moto's
`/moto-api/reset` and apply to every account and region lazily created later.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from llmdeploy.emulator.corrections.groups import (
    default_health_check_grace_period,
    keep_default_instance_warmup,
    keep_mixed_instances_policy,
    mark_spot_instances,
    report_capacity_reservation_preference,
)
from llmdeploy.emulator.corrections.lifecycle import (
    complete_lifecycle_action,
    record_lifecycle_action_heartbeat,
)
from llmdeploy.emulator.corrections.policies import omit_unset_predictive_config, report_policy_enabled
from llmdeploy.emulator.corrections.refreshes import start_instance_refreshes
from llmdeploy.emulator.corrections.registry import pull_through_cache_rules
from llmdeploy.emulator.corrections.rules import describe_referenced_group_rules
from llmdeploy.emulator.corrections.templates import keep_template_tags_out_of_data

__all__ = ["CORRECTIONS", "Correction", "apply_corrections", "correction_names"]


@dataclass(frozen=True)
class Correction:
    """One named correction: what it fixes and the function that applies it."""

    name: str
    summary: str
    apply: Callable[[], None]


CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        "mark-spot-instances",
        "instances a mixed instances policy launches as spot report InstanceLifecycle spot",
        mark_spot_instances,
    ),
    Correction(
        "keep-mixed-instances-policy",
        "UpdateAutoScalingGroup without MixedInstancesPolicy keeps the stored policy",
        keep_mixed_instances_policy,
    ),
    Correction(
        "keep-default-instance-warmup",
        "DescribeAutoScalingGroups returns DefaultInstanceWarmup as Create/Update set it",
        keep_default_instance_warmup,
    ),
    Correction(
        "report-capacity-reservation-preference",
        "DescribeAutoScalingGroups returns CapacityReservationSpecification (default `default`)",
        report_capacity_reservation_preference,
    ),
    Correction(
        "default-health-check-grace-period",
        "CreateAutoScalingGroup without HealthCheckGracePeriod stores 0 s, the API default",
        default_health_check_grace_period,
    ),
    Correction(
        "complete-lifecycle-action",
        "CompleteLifecycleAction exists and validates its hook, group, instance and result",
        complete_lifecycle_action,
    ),
    Correction(
        "record-lifecycle-action-heartbeat",
        "RecordLifecycleActionHeartbeat exists and validates its hook, group and instance",
        record_lifecycle_action_heartbeat,
    ),
    Correction(
        "start-instance-refreshes",
        "Start/Describe/CancelInstanceRefresh exist; a refresh completes at once",
        start_instance_refreshes,
    ),
    Correction(
        "report-policy-enabled",
        "DescribePolicies returns Enabled as set by PutScalingPolicy (default true)",
        report_policy_enabled,
    ),
    Correction(
        "omit-unset-predictive-config",
        "DescribePolicies omits PredictiveScalingConfiguration for other policy types",
        omit_unset_predictive_config,
    ),
    Correction(
        "keep-template-tags-out-of-data",
        "CreateLaunchTemplate tags the template, not LaunchTemplateData.TagSpecifications",
        keep_template_tags_out_of_data,
    ),
    Correction(
        "pull-through-cache-rules",
        "Create/Describe/DeletePullThroughCacheRule exist and keep one rule per prefix",
        pull_through_cache_rules,
    ),
    Correction(
        "describe-referenced-group-rules",
        "DescribeSecurityGroupRules returns the Description of rules referencing a group",
        describe_referenced_group_rules,
    ),
)

# Names applied in this process: applying one twice would wrap its method twice.
_APPLIED: set[str] = set()


def correction_names() -> list[str]:
    """Names accepted by `apply_corrections(skip=...)` and the launcher's `--skip`."""
    return [correction.name for correction in CORRECTIONS]


def apply_corrections(skip: Collection[str] = ()) -> list[str]:
    """Apply every correction not named in `skip`; return the names in force.

    `skip` exists so tests can start an uncorrected emulator and prove each
    correction is still needed (moto may fix a bug upstream).
    """
    unknown = set(skip) - set(correction_names())
    if unknown:
        raise ValueError(f"unknown correction(s): {', '.join(sorted(unknown))}")
    applied = []
    for correction in CORRECTIONS:
        if correction.name in skip:
            continue
        if correction.name not in _APPLIED:
            correction.apply()
            _APPLIED.add(correction.name)
        applied.append(correction.name)
    return applied
