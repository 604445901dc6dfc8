"""Adopt what a killed apply left outside the state: Terraform `import` blocks for AWS orphans.

Deleting what a killed apply created and creating it again is slow (a load balancer, a group with
instances) and sometimes impossible at once (a KMS key waits 7 days at least in PendingDeletion).
Terraform (>= 1.5) imports a resource through an `import` block in the configuration: the plan shows
it as "to import", the apply records it, and nothing is created twice
(https://developer.hashicorp.com/terraform/language/import). Each orphan is matched to the resource
of the stack's configuration it was created for: by the address tag llmdeploy puts on every taggable
resource (modules/aws/addresses.py), else by the name the configuration gives it (for the kinds that
take no tags, and for resources created before the tag existed). An orphan that matches nothing,
or whose resource the state already holds, is not adopted: it is only listed, and deleted on request.

Every orphan's `id` is already the ID Terraform's import of its resource type takes (the provider's
import sections: a group's or role's name, a load balancer's ARN, a launch template's ID...).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmdeploy.atomic_write import write_atomically
from llmdeploy.terraform.aws_orphans import Orphan

#: The file holding the import blocks, next to the stack's cdk.tf.json (synth replaces the folder).
IMPORTS_FILE = "llmdeploy-imports.tf.json"

#: The resource types an orphan of each kind can be.
_TYPES: Mapping[str, tuple[str, ...]] = {
    "autoscaling:autoScalingGroup": ("aws_autoscaling_group",),
    "elasticloadbalancing:loadbalancer": ("aws_lb", "aws_alb"),
    "elasticloadbalancing:targetgroup": ("aws_lb_target_group", "aws_alb_target_group"),
    "ecr:pull-through-cache-rule": ("aws_ecr_pull_through_cache_rule",),
    "ec2:launch-template": ("aws_launch_template",),
    "ec2:natgateway": ("aws_nat_gateway",),
    "ec2:elastic-ip": ("aws_eip",),
    "ec2:internet-gateway": ("aws_internet_gateway",),
    "ec2:security-group-rule": ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"),
    "ec2:subnet": ("aws_subnet",),
    "ec2:route-table": ("aws_route_table",),
    "ec2:security-group": ("aws_security_group",),
    "ec2:vpc": ("aws_vpc",),
    "iam:instance-profile": ("aws_iam_instance_profile",),
    "iam:role": ("aws_iam_role",),
    "logs:log-group": ("aws_cloudwatch_log_group",),
    "sns:topic": ("aws_sns_topic",),
    "cloudwatch:alarm": ("aws_cloudwatch_metric_alarm",),
    "s3:bucket": ("aws_s3_bucket",),
    "kms:alias": ("aws_kms_alias",),
    "kms:key": ("aws_kms_key",),
}
#: The argument that names a resource as its orphan's `id` does, for the kinds matched by name.
_NAME_ARGUMENT: Mapping[str, str] = {
    "aws_autoscaling_group": "name",
    "aws_ecr_pull_through_cache_rule": "ecr_repository_prefix",
    "aws_kms_alias": "name",
    "aws_iam_role": "name",
    "aws_cloudwatch_log_group": "name",
    "aws_cloudwatch_metric_alarm": "alarm_name",
    "aws_s3_bucket": "bucket",
}


#: Which address of a configuration's `resource` block an orphan belongs to; None when none.
Matcher = Callable[[Orphan, Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Adoption:
    """What a stack's orphans come to: those imported to an address, and those left to delete."""

    imports: tuple[tuple[str, Orphan], ...]
    unmatched: tuple[Orphan, ...]


def adopt(
    orphans: Sequence[Orphan],
    configuration: Mapping[str, Any],
    state: Mapping[str, Any],
    address_of: Matcher | None = None,
) -> Adoption:
    """Match `orphans` to the resources of `configuration` (a cdk.tf.json) that `state` lacks.

    `state` is Terraform's `show -json` document: an address it holds cannot take an import.
    `address_of`: the cloud's matcher (AWS's by default; Azure's is in azure_imports.py).
    """
    address_of = address_of or _address_of
    resources = configuration.get("resource") or {}
    taken = set(_addresses(state))
    imports, unmatched = [], []
    for orphan in orphans:
        address = address_of(orphan, resources)
        if address is None or address in taken:
            unmatched.append(orphan)
            continue
        taken.add(address)
        imports.append((address, orphan))
    return Adoption(tuple(imports), tuple(unmatched))


def write_imports(stack_dir: Path, adoption: Adoption) -> Path:
    """Write the import blocks into the stack folder (Terraform's JSON syntax for `import`)."""
    # Terraform evaluates `${` and `%{` in every JSON string: an ID is a literal (as in modules/common.py).
    blocks = [
        {"to": address, "id": orphan.id.replace("${", "$${").replace("%{", "%%{")}
        for address, orphan in adoption.imports
    ]
    path = stack_dir / IMPORTS_FILE
    write_atomically(path, json.dumps({"import": blocks}, indent=2) + "\n")
    return path


def discard_imports(stack_dir: Path) -> None:
    """Remove a run's import blocks: once applied they are in the state, and after a destroy they
    would name objects that no longer exist (Terraform then refuses every plan of the stack)."""
    (stack_dir / IMPORTS_FILE).unlink(missing_ok=True)


def read_configuration(stack_dir: Path, name: str) -> dict[str, Any]:
    """The stack's synthesized configuration (`name` in `stack_dir`) as a JSON document."""
    document = json.loads((stack_dir / name).read_text(encoding="utf-8"))
    return document if isinstance(document, dict) else {}


def _address_of(orphan: Orphan, resources: Mapping[str, Any]) -> str | None:
    types = _TYPES.get(orphan.kind, ())
    if orphan.address:
        kind, _, name = orphan.address.partition(".")
        return orphan.address if kind in types and name in (resources.get(kind) or {}) else None
    for kind in types:
        argument = _NAME_ARGUMENT.get(kind)
        named = [
            f"{kind}.{name}"
            for name, body in (resources.get(kind) or {}).items()
            if argument and isinstance(body, dict) and body.get(argument) == orphan.id
        ]
        if len(named) == 1:
            return named[0]
    return None


def _addresses(state: Mapping[str, Any]) -> Iterator[str]:
    """Every resource address in a `show -json` state document, child modules included."""
    modules = [((state.get("values") or {}).get("root_module")) or {}]
    while modules:
        module = modules.pop()
        for resource in module.get("resources") or []:
            yield str(resource.get("address", ""))
        modules.extend(module.get("child_modules") or [])
