"""DescribeAutoScalingGroups reports DefaultInstanceWarmup and the capacity reservation preference.

As in test_corrections.py: one test shows the corrected emulator answers like AWS, the
other that moto as shipped still does not (when it does, drop the correction).
"""

from __future__ import annotations

from typing import Any

from tests.emulator.builders import Clients, described_group, subnet_and_template, template_group


def _group(clients: Clients, name: str, **settings: Any) -> dict[str, Any]:
    return template_group(clients, name, "10.21", **settings)


def test_default_instance_warmup_is_kept_updated_and_removed(corrected: Clients, unique_name: str) -> None:
    assert _group(corrected, unique_name, DefaultInstanceWarmup=900)["DefaultInstanceWarmup"] == 900
    autoscaling = corrected("autoscaling")
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=unique_name, MaxSize=2)
    assert described_group(corrected, unique_name)["DefaultInstanceWarmup"] == 900, (
        "an update without it keeps it"
    )
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=unique_name, DefaultInstanceWarmup=300)
    assert described_group(corrected, unique_name)["DefaultInstanceWarmup"] == 300
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=unique_name, DefaultInstanceWarmup=-1)
    assert "DefaultInstanceWarmup" not in described_group(corrected, unique_name), "-1 removes the value"


def test_group_without_warmup_reports_none(corrected: Clients, unique_name: str) -> None:
    assert "DefaultInstanceWarmup" not in _group(corrected, unique_name)


def test_plain_moto_still_drops_default_instance_warmup(plain: Clients, unique_name: str) -> None:
    group = _group(plain, unique_name, DefaultInstanceWarmup=900)
    assert "DefaultInstanceWarmup" not in group, "moto now keeps it: remove keep_default_instance_warmup"


def test_capacity_reservation_preference_defaults_and_follows_requests(
    corrected: Clients, unique_name: str
) -> None:
    group = _group(corrected, unique_name)
    assert group["CapacityReservationSpecification"] == {"CapacityReservationPreference": "default"}
    wanted = {
        "CapacityReservationPreference": "capacity-reservations-first",
        "CapacityReservationTarget": {"CapacityReservationIds": ["cr-0123456789abcdef0"]},
    }
    corrected("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=unique_name, CapacityReservationSpecification=wanted
    )
    assert described_group(corrected, unique_name)["CapacityReservationSpecification"] == wanted


def test_plain_moto_still_omits_capacity_reservation_specification(plain: Clients, unique_name: str) -> None:
    group = _group(plain, unique_name)
    assert "CapacityReservationSpecification" not in group, (
        "moto now reports it: remove report_capacity_reservation_preference"
    )


def test_health_check_grace_period_defaults_to_zero_and_follows_requests(
    corrected: Clients, unique_name: str
) -> None:
    """CreateAutoScalingGroup: HealthCheckGracePeriod "Default: 0 seconds" (API reference); the
    provider omits a configured 0, so the group must report 0, not moto's 300."""
    assert _group(corrected, unique_name)["HealthCheckGracePeriod"] == 0
    corrected("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=unique_name, HealthCheckGracePeriod=60
    )
    assert described_group(corrected, unique_name)["HealthCheckGracePeriod"] == 60
    corrected("autoscaling").update_auto_scaling_group(AutoScalingGroupName=unique_name, MaxSize=2)
    assert described_group(corrected, unique_name)["HealthCheckGracePeriod"] == 60, (
        "an update without it keeps it"
    )


def test_group_created_with_a_grace_period_keeps_it(corrected: Clients, unique_name: str) -> None:
    assert _group(corrected, unique_name, HealthCheckGracePeriod=120)["HealthCheckGracePeriod"] == 120


def test_plain_moto_still_defaults_the_grace_period_to_300(plain: Clients, unique_name: str) -> None:
    group = _group(plain, unique_name)
    assert group["HealthCheckGracePeriod"] == 300, (
        "moto now defaults to 0: remove default_health_check_grace_period"
    )


def _mixed_group_markets(
    clients: Clients, name: str, cidr: str, base: int, percent: int, size: int
) -> list[str]:
    """The market of each instance a mixed instances group launches: "spot" or "on-demand"."""
    subnet, template = subnet_and_template(clients, name, cidr)
    clients("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=size,
        MaxSize=size,
        DesiredCapacity=size,
        VPCZoneIdentifier=subnet,
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template},
                "Overrides": [{"InstanceType": "t3.micro"}],
            },
            "InstancesDistribution": {
                "OnDemandBaseCapacity": base,
                "OnDemandPercentageAboveBaseCapacity": percent,
            },
        },
    )
    ids = [entry["InstanceId"] for entry in described_group(clients, name)["Instances"]]
    reservations = clients("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    instances = [instance for reservation in reservations for instance in reservation["Instances"]]
    return sorted(instance.get("InstanceLifecycle", "on-demand") for instance in instances)


def test_a_mixed_group_launches_its_spot_share_as_spot(corrected: Clients, unique_name: str) -> None:
    """DescribeInstances: InstanceLifecycle "spot" for spot capacity (EC2 API reference, Instance);
    `llmdeploy status` prices and counts the fleet by it."""
    markets = _mixed_group_markets(corrected, unique_name, "10.31", base=1, percent=50, size=5)
    assert markets == ["on-demand"] * 3 + ["spot"] * 2
    all_spot = _mixed_group_markets(corrected, f"{unique_name}s", "10.32", base=0, percent=0, size=2)
    assert all_spot == ["spot", "spot"]


def test_plain_moto_still_launches_a_mixed_group_all_on_demand(plain: Clients, unique_name: str) -> None:
    assert _mixed_group_markets(plain, unique_name, "10.33", base=0, percent=0, size=2) == ["on-demand"] * 2
