"""Corrections to moto's scaling policies: what PutScalingPolicy and DescribePolicies report."""

from __future__ import annotations

import functools
from typing import Any

from moto.autoscaling.models import FakeScalingPolicy
from moto.autoscaling.responses import AutoScalingResponse


def report_policy_enabled() -> None:
    """DescribePolicies reports `Enabled` as PutScalingPolicy set it (default true).

    AWS API reference, PutScalingPolicy: `Enabled` indicates whether the policy is
    enabled (true) or disabled (false), default true; DescribePolicies returns it in
    each ScalingPolicy. moto neither stores nor returns it, so the provider reads an
    absent value as false and plans `enabled = false -> true` on every run.
    """
    original = AutoScalingResponse.put_scaling_policy
    # Policies created any other way (e.g. CloudFormation) are enabled, as on AWS.
    FakeScalingPolicy.enabled = True  # type: ignore[attr-defined]

    @functools.wraps(original)
    def put_scaling_policy(self: AutoScalingResponse) -> Any:
        result = original(self)
        policy = self.autoscaling_backend.policies[self._get_param("PolicyName")]
        policy.enabled = self._get_bool_param("Enabled", True)  # type: ignore[attr-defined]
        return result

    AutoScalingResponse.put_scaling_policy = put_scaling_policy  # type: ignore[method-assign]


def omit_unset_predictive_config() -> None:
    """DescribePolicies returns PredictiveScalingConfiguration only for predictive policies.

    AWS API reference, ScalingPolicy data type: PredictiveScalingConfiguration is the
    configuration of a predictive scaling policy and is absent for other policy types.
    moto stores `{}` when the request has none and serializes it as an empty
    structure, so the provider sees a `predictive_scaling_configuration` block on a
    target-tracking policy and plans to remove it on every run.
    """
    original = FakeScalingPolicy.__init__

    @functools.wraps(original)
    def __init__(self: FakeScalingPolicy, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        predictive = self.policy_type == "PredictiveScaling"
        if not predictive or not self.predictive_scaling_configuration:
            self.predictive_scaling_configuration = None  # type: ignore[assignment]

    FakeScalingPolicy.__init__ = __init__  # type: ignore[method-assign]
