"""Names of the AWS resources the stack creates and `status` / the gates find again.

Every name starts with the stack prefix `<project>-<env>` (plan/endpoints.py) and fits the limit of
its resource; longer names are cut and end in a hash of the full name (`short_name`), so two long
model names that share a prefix still get different resources.
"""

from __future__ import annotations

from llmdeploy.clouds.naming import short_name

#: Auto Scaling group names: 1-255 characters (AutoScalingGroupName, Auto Scaling API reference).
GROUP_NAME_LIMIT = 255
#: IAM role and instance profile names: at most 64 characters (IAM quotas).
IAM_NAME_LIMIT = 64
#: Load balancer and target group names: at most 32 characters (ELBv2 API reference).
LB_NAME_LIMIT = 32
#: S3 `bucket_prefix`: at most 37 characters (the provider appends a 26-character unique suffix).
BUCKET_PREFIX_LIMIT = 37

#: Alarm name suffixes of one fleet.
ERROR_RATE_ALARM = "5xx-rate"
UNHEALTHY_ALARM = "unhealthy-hosts"
LATENCY_ALARM = "p99-latency"
HEALTHY_ALARM = "healthy-hosts"
WAKE_ALARM = "wake-from-zero"
#: Alarms that judge a release: promotion gates and instance refreshes stop on them. Both say the
#: new version serves badly: its answers fail, or replicas that served fail their health check
#: (booting replicas are outside the target group until ready: the launch hook). Latency (long
#: generations) and too few healthy replicas (a spot reclaim, a scale-out) page, but say nothing
#: about the release: a gate waits for healthy replicas on its own, until its timeout.
GATE_ALARMS = (ERROR_RATE_ALARM, UNHEALTHY_ALARM)


def load_balancer(prefix: str) -> str:
    """The environment's Application Load Balancer."""
    return short_name(prefix, limit=LB_NAME_LIMIT)


def group(prefix: str, model: str, slot: str) -> str:
    """A fleet's Auto Scaling group (also its launch template prefix and its policies' stem)."""
    return short_name(prefix, model, slot, limit=GROUP_NAME_LIMIT)


def instance_role(group_name: str) -> str:
    """A fleet's instance role and instance profile."""
    return short_name(group_name, "instance", limit=IAM_NAME_LIMIT)


def target_group(prefix: str, model: str, slot: str) -> str:
    """A fleet's target group."""
    return short_name(prefix, model, slot, limit=LB_NAME_LIMIT)


#: The router group's name part (issue 13's request layer): its group, load balancer, target group.
ROUTER = "router"


def router_group(prefix: str) -> str:
    """The router group's Auto Scaling group (also its launch template prefix)."""
    return short_name(prefix, ROUTER, limit=GROUP_NAME_LIMIT)


def router_load_balancer(prefix: str) -> str:
    """The routers' own Application Load Balancer (an ALB listener cannot fail over between target
    groups, docs/routing.md, so the routers do not share the GPU fleets' load balancer)."""
    return short_name(prefix, ROUTER, limit=LB_NAME_LIMIT)


def router_target_group(prefix: str) -> str:
    """The routers' target group (target group and load balancer names are separate namespaces)."""
    return short_name(prefix, ROUTER, limit=LB_NAME_LIMIT)


def flow_log_role(prefix: str) -> str:
    """The role VPC flow logs write with."""
    return short_name(prefix, "flow-logs", limit=IAM_NAME_LIMIT)


def flow_log_group(prefix: str) -> str:
    return f"/llmdeploy/{prefix}/vpc-flow-logs"


def access_log_bucket_prefix(prefix: str) -> str:
    """The load balancer's access log bucket: a prefix, S3 names it uniquely."""
    return short_name(prefix, "lb-logs", limit=BUCKET_PREFIX_LIMIT - 1) + "-"


def key_alias(prefix: str) -> str:
    """The environment's KMS key (logs and alarm notifications)."""
    return f"alias/llmdeploy/{prefix}"


def alarm(prefix: str, fleet: str, suffix: str) -> str:
    """One alarm of the fleet `<model>-<slot>`."""
    return f"{prefix}-{fleet}-{suffix}"
