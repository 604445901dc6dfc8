"""Hand-written Terraform JSON stacks for runner tests (deliberately not made by CDK).

They mirror what the real stacks synthesize for AWS (a launch template resolving the
Deep Learning AMI, an ASG with a mixed instances policy, capacity rebalance and a
termination lifecycle hook, target tracking), minus the ALB: the provider waits
about 60 s after creating one, which would dominate the test's run time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

AWS_VERSION = "5.100.0"  # the version in the local provider mirror
DLAMI = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"

Doc = dict[str, Any]


def write_stack(folder: Path, document: Doc) -> Path:
    """Write `cdk.tf.json` the way a synthesized stack folder holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cdk.tf.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    return folder


def aws_preamble() -> Doc:
    """Local state and an AWS provider that works against the emulator.

    The provider takes its endpoint from AWS_ENDPOINT_URL; the skip_* flags stop it
    calling STS and the instance metadata service, which the emulator does not need.
    """
    return {
        "terraform": {
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": AWS_VERSION}},
            "backend": {"local": {"path": "terraform.tfstate"}},
        },
        "provider": {
            "aws": [
                {
                    "region": "us-east-1",
                    "skip_credentials_validation": True,
                    "skip_requesting_account_id": True,
                    "skip_metadata_api_check": "true",
                }
            ]
        },
    }


def _network(name: str, cidr: str) -> Doc:
    tags = {"Name": name, "llmdeploy-test": name}
    return {
        "aws_vpc": {"main": {"cidr_block": f"{cidr}.0.0/16", "tags": tags}},
        "aws_subnet": {
            zone: {
                "vpc_id": "${aws_vpc.main.id}",
                "cidr_block": f"{cidr}.{index}.0/24",
                "availability_zone": f"us-east-1{zone}",
                "tags": tags,
            }
            for index, zone in enumerate(("a", "b"), start=1)
        },
    }


def _launch_template(name: str) -> Doc:
    return {
        "name": f"{name}-lt",
        "image_id": "${data.aws_ssm_parameter.dlami.value}",
        "instance_type": "g5.xlarge",
        "metadata_options": {"http_tokens": "required", "http_endpoint": "enabled"},
        "tags": {"llmdeploy-test": name},
    }


def _mixed_instances_policy() -> Doc:
    return {
        "instances_distribution": {
            "on_demand_base_capacity": 1,
            "on_demand_percentage_above_base_capacity": 0,
            "spot_allocation_strategy": "price-capacity-optimized",
        },
        "launch_template": {
            "launch_template_specification": {
                "launch_template_id": "${aws_launch_template.gpu.id}",
                "version": "$Latest",
            },
            "override": [{"instance_type": "g5.xlarge"}, {"instance_type": "g6.xlarge"}],
        },
    }


def _autoscaling_group(name: str) -> Doc:
    return {
        "name": name,
        "min_size": 1,
        "max_size": 3,
        "desired_capacity": 1,
        "vpc_zone_identifier": ["${aws_subnet.a.id}", "${aws_subnet.b.id}"],
        "capacity_rebalance": True,
        "health_check_grace_period": 900,
        "wait_for_capacity_timeout": "2m",
        "mixed_instances_policy": _mixed_instances_policy(),
        "initial_lifecycle_hook": [
            {
                "name": "drain",
                "lifecycle_transition": "autoscaling:EC2_INSTANCE_TERMINATING",
                "heartbeat_timeout": 300,
                "default_result": "CONTINUE",
            }
        ],
        "tag": [{"key": "llmdeploy-test", "value": name, "propagate_at_launch": True}],
    }


def _cpu_policy(name: str) -> Doc:
    return {
        "name": f"{name}-cpu",
        "autoscaling_group_name": "${aws_autoscaling_group.fleet.name}",
        "policy_type": "TargetTrackingScaling",
        "target_tracking_configuration": {
            "predefined_metric_specification": {"predefined_metric_type": "ASGAverageCPUUtilization"},
            "target_value": 60,
        },
    }


def fleet_stack(name: str, cidr: str = "10.42") -> Doc:
    """VPC, two subnets, launch template, mixed-instances ASG and a target-tracking policy."""
    resources = _network(name, cidr)
    resources["aws_launch_template"] = {"gpu": _launch_template(name)}
    resources["aws_autoscaling_group"] = {"fleet": _autoscaling_group(name)}
    resources["aws_autoscaling_policy"] = {"cpu": _cpu_policy(name)}
    return aws_preamble() | {
        "data": {"aws_ssm_parameter": {"dlami": {"name": DLAMI}}},
        "resource": resources,
        "output": {
            "asg_name": {"value": "${aws_autoscaling_group.fleet.name}"},
            "ami_id": {"value": "${data.aws_ssm_parameter.dlami.value}", "sensitive": True},
        },
    }


def broken_subnet_stack(name: str) -> Doc:
    """A VPC that applies, then a subnet outside its range that AWS (and moto) reject."""
    tags = {"Name": name, "llmdeploy-test": name}
    return aws_preamble() | {
        "resource": {
            "aws_vpc": {"main": {"cidr_block": "10.77.0.0/16", "tags": tags}},
            "aws_subnet": {
                "outside": {
                    "vpc_id": "${aws_vpc.main.id}",
                    "cidr_block": "10.99.1.0/24",
                    "tags": tags,
                }
            },
        }
    }


def vpc_only_stack(name: str) -> Doc:
    return aws_preamble() | {
        "resource": {"aws_vpc": {"main": {"cidr_block": "10.88.0.0/16", "tags": {"Name": name}}}}
    }


def no_provider_stack(value: object = 1) -> Doc:
    """Nothing but an output: init and plan need no provider, so no mirror or network."""
    return {
        "terraform": {"backend": {"local": {"path": "terraform.tfstate"}}},
        "output": {"answer": {"value": value}},
    }
