"""Narrow fidelity corrections to moto's models, applied before the emulator serves.

Each correction fixes one place where moto 5.2.5 answers differently from real AWS in a way
that makes Terraform see drift that does not exist (a second plan that is not empty).
Each wraps a single method and leaves every other behaviour of moto untouched, so a
moto upgrade that fixes the bug upstream only makes the correction redundant, never
wrong. Every correction is guarded by a test in tests/emulator/ that fails without it.

Corrections patch classes, not backend instances, so they survive moto's
`/moto-api/reset` and apply to every account and region lazily created later.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from moto.autoscaling.models import FakeAutoScalingGroup, FakeScalingPolicy
from moto.autoscaling.responses import AutoScalingResponse
from moto.ec2.models.launch_templates import LaunchTemplateBackend

# Marks a wrapper so applying the corrections twice in one process is a no-op.
_MARKER = "__llmdeploy_correction__"


@dataclass(frozen=True)
class Correction:
    """One named correction: what it fixes and the function that applies it."""

    name: str
    summary: str
    apply: Callable[[], None]


def _is_wrapped(function: object) -> bool:
    return bool(getattr(function, _MARKER, False))


def _mark(function: Callable[..., Any]) -> Callable[..., Any]:
    setattr(function, _MARKER, True)
    return function


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
    if _is_wrapped(original):
        return

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

    FakeAutoScalingGroup.update = _mark(update)  # type: ignore[method-assign]


def report_policy_enabled() -> None:
    """DescribePolicies reports `Enabled` as PutScalingPolicy set it (default true).

    AWS API reference, PutScalingPolicy: `Enabled` indicates whether the policy is
    enabled (true) or disabled (false), default true; DescribePolicies returns it in
    each ScalingPolicy. moto neither stores nor returns it, so the provider reads an
    absent value as false and plans `enabled = false -> true` on every run.
    """
    original = AutoScalingResponse.put_scaling_policy
    if _is_wrapped(original):
        return
    # Policies created any other way (e.g. CloudFormation) are enabled, as on AWS.
    FakeScalingPolicy.enabled = True  # type: ignore[attr-defined]

    @functools.wraps(original)
    def put_scaling_policy(self: AutoScalingResponse) -> Any:
        result = original(self)
        policy = self.autoscaling_backend.policies[self._get_param("PolicyName")]
        policy.enabled = self._get_bool_param("Enabled", True)  # type: ignore[attr-defined]
        return result

    AutoScalingResponse.put_scaling_policy = _mark(put_scaling_policy)  # type: ignore[method-assign]


def omit_unset_predictive_config() -> None:
    """DescribePolicies returns PredictiveScalingConfiguration only for predictive policies.

    AWS API reference, ScalingPolicy data type: PredictiveScalingConfiguration is the
    configuration of a predictive scaling policy and is absent for other policy types.
    moto stores `{}` when the request has none and serializes it as an empty
    structure, so the provider sees a `predictive_scaling_configuration` block on a
    target-tracking policy and plans to remove it on every run.
    """
    original = FakeScalingPolicy.__init__
    if _is_wrapped(original):
        return

    @functools.wraps(original)
    def __init__(self: FakeScalingPolicy, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        predictive = self.policy_type == "PredictiveScaling"
        if not predictive or not self.predictive_scaling_configuration:
            self.predictive_scaling_configuration = None  # type: ignore[assignment]

    FakeScalingPolicy.__init__ = _mark(__init__)  # type: ignore[method-assign]


def keep_template_tags_out_of_data() -> None:
    """CreateLaunchTemplate's own `launch-template` tags stay out of LaunchTemplateData.

    AWS API reference, CreateLaunchTemplate: TagSpecifications tags the launch template
    itself (resource type `launch-template`); LaunchTemplateData.TagSpecifications is a
    separate field for resources created at launch, and `launch-template` is not a valid
    resource type there. moto's handler copies the template's tags into the data, so
    the provider reads a `tag_specifications` block nobody wrote on every launch
    template with `tags`, and plans to remove it on every run.
    """
    original = LaunchTemplateBackend.create_launch_template
    if _is_wrapped(original):
        return

    @functools.wraps(original)
    def create_launch_template(
        self: LaunchTemplateBackend,
        name: str,
        description: str,
        template_data: dict[str, Any],
        tag_spec: dict[str, Any],
    ) -> Any:
        specs = template_data.get("TagSpecifications")
        if isinstance(specs, list):
            kept = [s for s in specs if s.get("ResourceType") != "launch-template"]
            if kept:
                template_data["TagSpecifications"] = kept
            else:
                del template_data["TagSpecifications"]
        return original(self, name, description, template_data, tag_spec)

    LaunchTemplateBackend.create_launch_template = _mark(create_launch_template)  # type: ignore[method-assign]


CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        "keep-mixed-instances-policy",
        "UpdateAutoScalingGroup without MixedInstancesPolicy keeps the stored policy",
        keep_mixed_instances_policy,
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
)


def correction_names() -> list[str]:
    """Names accepted by `apply_corrections(skip=...)` and the launcher's `--skip`."""
    return [correction.name for correction in CORRECTIONS]


def apply_corrections(skip: Collection[str] = ()) -> list[str]:
    """Apply every correction not named in `skip`; return the names applied.

    `skip` exists so tests can start an uncorrected emulator and prove each
    correction is still needed (moto may fix a bug upstream).
    """
    unknown = set(skip) - set(correction_names())
    if unknown:
        raise ValueError(f"unknown correction(s): {', '.join(sorted(unknown))}")
    applied = []
    for correction in CORRECTIONS:
        if correction.name not in skip:
            correction.apply()
            applied.append(correction.name)
    return applied
