"""AWS resources that carry an environment's tags but are in no Terraform state: orphans.

A run killed mid-apply (SIGKILL, OOM, a lost CI runner) can leave resources that AWS created but
Terraform never recorded: Terraform records a resource only once its create call returns, and a
remote backend saves state at most every 20 s (TF_STATE_PERSIST_INTERVAL only lengthens that).
The next apply then creates them again, or fails forever on a name that "already exists"
(launch templates, groups, target groups). Every resource llmdeploy creates carries the plan's
tags (`project`, `environment`, `managed-by`), so they can be found and removed.

Found through the Resource Groups Tagging API, plus describe and list calls for the kinds it does
not return: Auto Scaling groups (documented as unsupported by GetResources, see
https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/supported-services.html),
IAM roles and instance profiles (global, listed with their tags one by one), KMS keys (listed
with their tags one by one, with the aliases that point at them: aliases take no tags, and an
orphan alias makes the next apply fail with AlreadyExists), ECR pull-through cache rules (no tags:
found by the environment's own repository prefix, `llmdeploy.boot.registry.stack_prefix`), and
launch templates, security group rules and addresses (which the local emulator leaves out).
S3 buckets come from the Tagging API; a bucket is emptied (every version) before it is deleted.
Resources that go with their parent (routes, listeners and rules, scaling policies, flow logs,
bucket settings, subscriptions) are not listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

Clients = Callable[[str], Any]

#: The tag holding each resource's Terraform address (modules/aws/addresses.py sets it).
ADDRESS_TAG = "llmdeploy:address"

#: The kinds Terraform creates for a stack, in the order they can be deleted (dependents first).
#: Instances, volumes and network interfaces are left out: groups and load balancers own them.
DELETION_ORDER = (
    "autoscaling:autoScalingGroup",
    "elasticloadbalancing:loadbalancer",
    "elasticloadbalancing:targetgroup",
    "ecr:pull-through-cache-rule",
    "ec2:launch-template",
    "ec2:natgateway",
    "ec2:elastic-ip",
    "ec2:internet-gateway",
    "ec2:security-group-rule",
    "ec2:subnet",
    "ec2:route-table",
    "ec2:security-group",
    "ec2:vpc",
    "iam:instance-profile",
    "iam:role",
    "logs:log-group",
    "sns:topic",
    "cloudwatch:alarm",
    "s3:bucket",
    "kms:alias",
    "kms:key",
)
#: Kinds found by describe and list calls: the Tagging API does not return them (groups, IAM), or
#: not on every implementation (the emulator leaves out templates, rules and addresses).
_LISTED_KINDS = frozenset(
    {
        "autoscaling:autoScalingGroup",
        "ec2:launch-template",
        "ec2:natgateway",
        "ec2:elastic-ip",
        "ec2:security-group-rule",
        "iam:instance-profile",
        "iam:role",
        "ecr:pull-through-cache-rule",
        "kms:alias",
        "kms:key",
    }
)
#: The Tagging API's type filters: an S3 bucket's ARN names no resource type, so its filter is "s3".
_TAGGING_API_FILTERS = tuple(
    "s3" if kind == "s3:bucket" else kind for kind in DELETION_ORDER if kind not in _LISTED_KINDS
)


@dataclass(frozen=True)
class Orphan:
    """One resource outside the state: its kind, the ID its delete call takes, and its ARN.

    On Azure (azure_orphans.py): the ARM type, the ARM ID as azurerm's import spells it, and the ID as
    Resource Graph returned it.
    """

    kind: str
    id: str
    arn: str
    #: What the delete call also needs: a rule's security group.
    parent: str = ""
    #: The Terraform address its ADDRESS_TAG names; empty when it carries none.
    address: str = ""

    def shown(self) -> str:
        return f"{self.kind} {self.id}"


def find_orphans(tags: Mapping[str, str], state: Mapping[str, Any], clients: Clients) -> list[Orphan]:
    """Resources tagged with every one of `tags` whose ARN or ID the state document never names."""
    known = set(state_strings(state))
    found = {(orphan.kind, orphan.id): orphan for orphan in _tagged(tags, clients)}
    return sorted(
        (orphan for orphan in found.values() if orphan.arn not in known and orphan.id not in known),
        key=lambda orphan: (DELETION_ORDER.index(orphan.kind), orphan.id),
    )


def delete_orphans(orphans: list[Orphan], clients: Clients) -> list[str]:
    """Delete `orphans` (in DELETION_ORDER, as find_orphans sorts them); return what failed.

    A failure does not stop the others: a subnet whose instances are still terminating fails
    now and goes on the next run.
    """
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    failed = []
    for orphan in orphans:
        try:
            _DELETE[orphan.kind](clients, orphan)
        except (BotoCoreError, ClientError) as error:
            failed.append(f"{orphan.shown()}: {error}")
    return failed


def _tagged(tags: Mapping[str, str], clients: Clients) -> Iterator[Orphan]:
    filters = [{"Key": key, "Values": [value]} for key, value in tags.items()]
    pages = clients("resourcegroupstaggingapi").get_paginator("get_resources")
    for page in pages.paginate(TagFilters=filters, ResourceTypeFilters=list(_TAGGING_API_FILTERS)):
        for entry in page.get("ResourceTagMappingList", []):
            orphan = _from_arn(entry["ResourceARN"])
            if orphan is not None:
                yield replace(orphan, address=_address(entry.get("Tags", [])))
    yield from _described(tags, clients)
    yield from _iam(tags, clients)
    yield from _kms(tags, clients)
    yield from _cache_rules(tags, clients)


def _described(tags: Mapping[str, str], clients: Clients) -> Iterator[Orphan]:
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
    ec2 = clients("ec2")
    for page in ec2.get_paginator("describe_launch_templates").paginate(Filters=filters):
        for template in page.get("LaunchTemplates", []):
            identifier = template["LaunchTemplateId"]
            address = _address(template.get("Tags", []))
            yield Orphan("ec2:launch-template", identifier, identifier, address=address)  # describe: no ARN
    yield from _rules(ec2, filters, tags)
    # A deleted NAT gateway stays listed (state "deleted") for about an hour: only live ones count.
    live = [*filters, {"Name": "state", "Values": ["pending", "available", "failed"]}]
    for page in ec2.get_paginator("describe_nat_gateways").paginate(Filters=live):
        for gateway in page.get("NatGateways", []):
            identifier, address = gateway["NatGatewayId"], _address(gateway.get("Tags", []))
            yield Orphan("ec2:natgateway", identifier, identifier, address=address)
    for found in ec2.describe_addresses(Filters=filters).get("Addresses", []):
        identifier, address = found["AllocationId"], _address(found.get("Tags", []))
        yield Orphan("ec2:elastic-ip", identifier, identifier, address=address)
    groups = clients("autoscaling").get_paginator("describe_auto_scaling_groups")
    for page in groups.paginate(Filters=filters):
        for group in page.get("AutoScalingGroups", []):
            yield Orphan(
                "autoscaling:autoScalingGroup", group["AutoScalingGroupName"], group["AutoScalingGroupARN"]
            )


def _rules(ec2: Any, filters: list[dict[str, Any]], wanted: Mapping[str, str]) -> Iterator[Orphan]:
    """Tagged security group rules of the environment's own live groups.

    Deleting a group deletes its rules, and llmdeploy puts rules only on groups it creates and tags,
    so a rule of a gone or foreign group (the emulator keeps some) is not the environment's orphan."""
    rules = [
        rule
        for page in ec2.get_paginator("describe_security_group_rules").paginate(Filters=filters)
        for rule in page.get("SecurityGroupRules", [])
        # The rule's own tags: the emulator's filter also matches a group's untagged default rule.
        if _has_tags(rule.get("Tags", []), wanted)
    ]
    parents = sorted({rule["GroupId"] for rule in rules})
    if not parents:
        return
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": parents}, *filters])
    existing = {group["GroupId"] for group in groups.get("SecurityGroups", [])}
    for rule in rules:
        if rule["GroupId"] in existing:
            identifier, address = rule["SecurityGroupRuleId"], _address(rule.get("Tags", []))
            yield Orphan("ec2:security-group-rule", identifier, identifier, rule["GroupId"], address)


def _iam(tags: Mapping[str, str], clients: Clients) -> Iterator[Orphan]:
    """IAM roles and instance profiles with all of `tags` (IAM lists tags per entity only)."""
    iam = clients("iam")
    for page in iam.get_paginator("list_roles").paginate():
        for role in page.get("Roles", []):
            found = iam.list_role_tags(RoleName=role["RoleName"]).get("Tags", [])
            if _has_tags(found, tags):
                yield Orphan("iam:role", role["RoleName"], role["Arn"], address=_address(found))
    for page in iam.get_paginator("list_instance_profiles").paginate():
        for profile in page.get("InstanceProfiles", []):
            # GetInstanceProfile returns the tags (listing does not; the emulator lacks the tag call).
            name = profile["InstanceProfileName"]
            found = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"].get("Tags", [])
            if _has_tags(found, tags):
                yield Orphan("iam:instance-profile", name, profile["Arn"], address=_address(found))


def _kms(tags: Mapping[str, str], clients: Clients) -> Iterator[Orphan]:
    """Live customer keys with all of `tags`, and the aliases pointing at them."""
    kms = clients("kms")
    keys: dict[str, tuple[str, str]] = {}
    for page in kms.get_paginator("list_keys").paginate():
        for key in page.get("Keys", []):
            metadata = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            if metadata.get("KeyManager") != "CUSTOMER" or metadata.get("KeyState") == "PendingDeletion":
                continue
            found = kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])
            pairs = [{"Key": tag["TagKey"], "Value": tag["TagValue"]} for tag in found]
            if _has_tags(pairs, tags):
                keys[key["KeyId"]] = (key["KeyArn"], _address(pairs))
    for key_id, (arn, address) in keys.items():
        aliases = [
            alias
            for page in kms.get_paginator("list_aliases").paginate(KeyId=key_id)
            for alias in page.get("Aliases", [])
        ]
        # "alias/aws/" is reserved for AWS managed keys (AWS KMS developer guide, alias-create.html); the
        # emulator reports the EBS default key (alias/aws/ebs) as a customer key with a volume's tags.
        if any(alias["AliasName"].startswith("alias/aws/") for alias in aliases):
            continue
        for alias in aliases:
            yield Orphan("kms:alias", alias["AliasName"], alias["AliasArn"])
        yield Orphan("kms:key", key_id, arn, address=address)


def _cache_rules(tags: Mapping[str, str], clients: Clients) -> Iterator[Orphan]:
    """The environment's ECR pull-through cache rules: their prefix holds its project and name."""
    from llmdeploy.boot.registry import stack_prefix

    if "project" not in tags or "environment" not in tags:
        return
    prefix = stack_prefix(tags["project"], tags["environment"])
    for page in clients("ecr").get_paginator("describe_pull_through_cache_rules").paginate():
        for rule in page.get("pullThroughCacheRules", []):
            name = rule["ecrRepositoryPrefix"]
            if name.startswith(prefix):
                yield Orphan("ecr:pull-through-cache-rule", name, name)


def _address(found: list[dict[str, str]]) -> str:
    return next((tag["Value"] for tag in found if tag["Key"] == ADDRESS_TAG), "")


def _has_tags(found: list[dict[str, str]], wanted: Mapping[str, str]) -> bool:
    present = {tag["Key"]: tag["Value"] for tag in found}
    return all(present.get(key) == value for key, value in wanted.items())


def _from_arn(arn: str) -> Orphan | None:
    """The kind and ID of a Tagging API ARN, as Terraform's state and the delete call name it."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    service, resource = parts[2], parts[5]
    if service == "ec2":
        kind, _, identifier = resource.partition("/")
        return Orphan(f"ec2:{kind}", identifier, arn) if f"ec2:{kind}" in DELETION_ORDER else None
    if service == "elasticloadbalancing":
        kind = "loadbalancer" if resource.startswith("loadbalancer/") else "targetgroup"
        return Orphan(f"elasticloadbalancing:{kind}", arn, arn)  # Terraform's ID is the ARN
    if service == "logs" and resource.startswith("log-group:"):
        return Orphan("logs:log-group", resource.removeprefix("log-group:").removesuffix(":*"), arn)
    if service == "sns":
        return Orphan("sns:topic", arn, arn)
    if service == "cloudwatch" and resource.startswith("alarm:"):
        return Orphan("cloudwatch:alarm", resource.removeprefix("alarm:"), arn)
    if service == "s3" and "/" not in resource:
        return Orphan("s3:bucket", resource, arn)  # Terraform's ID is the bucket name
    return None


def state_strings(value: Any) -> Iterator[str]:
    """Every string in a state document (IDs and ARNs included), however deep (Azure's code uses it too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from state_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from state_strings(item)


def _delete_group(clients: Clients, orphan: Orphan) -> None:
    clients("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=orphan.id, ForceDelete=True)


def _delete_internet_gateway(clients: Clients, orphan: Orphan) -> None:
    ec2 = clients("ec2")
    (gateway,) = ec2.describe_internet_gateways(InternetGatewayIds=[orphan.id])["InternetGateways"]
    for attachment in gateway.get("Attachments", []):
        ec2.detach_internet_gateway(InternetGatewayId=orphan.id, VpcId=attachment["VpcId"])
    ec2.delete_internet_gateway(InternetGatewayId=orphan.id)


def _delete_route_table(clients: Clients, orphan: Orphan) -> None:
    ec2 = clients("ec2")
    (table,) = ec2.describe_route_tables(RouteTableIds=[orphan.id])["RouteTables"]
    for association in table.get("Associations", []):
        if not association.get("Main"):
            ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    ec2.delete_route_table(RouteTableId=orphan.id)


def _delete_rule(clients: Clients, orphan: Orphan) -> None:
    ec2 = clients("ec2")
    (rule,) = ec2.describe_security_group_rules(SecurityGroupRuleIds=[orphan.id])["SecurityGroupRules"]
    revoke = ec2.revoke_security_group_egress if rule.get("IsEgress") else ec2.revoke_security_group_ingress
    revoke(GroupId=orphan.parent, SecurityGroupRuleIds=[orphan.id])


def _delete_instance_profile(clients: Clients, orphan: Orphan) -> None:
    iam = clients("iam")
    profile = iam.get_instance_profile(InstanceProfileName=orphan.id)["InstanceProfile"]
    for role in profile.get("Roles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=orphan.id, RoleName=role["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=orphan.id)


def _delete_role(clients: Clients, orphan: Orphan) -> None:
    """A role goes only once no profile holds it and it has no policies left."""
    iam = clients("iam")
    for profile in iam.list_instance_profiles_for_role(RoleName=orphan.id).get("InstanceProfiles", []):
        iam.remove_role_from_instance_profile(
            InstanceProfileName=profile["InstanceProfileName"], RoleName=orphan.id
        )
    for name in iam.list_role_policies(RoleName=orphan.id).get("PolicyNames", []):
        iam.delete_role_policy(RoleName=orphan.id, PolicyName=name)
    for policy in iam.list_attached_role_policies(RoleName=orphan.id).get("AttachedPolicies", []):
        iam.detach_role_policy(RoleName=orphan.id, PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=orphan.id)


def _delete_security_group(clients: Clients, orphan: Orphan) -> None:
    """Its rules first: groups of one stack refer to each other, which blocks deleting either."""
    ec2 = clients("ec2")
    (group,) = ec2.describe_security_groups(GroupIds=[orphan.id])["SecurityGroups"]
    if group.get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=orphan.id, IpPermissions=group["IpPermissions"])
    if group.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(GroupId=orphan.id, IpPermissions=group["IpPermissionsEgress"])
    ec2.delete_security_group(GroupId=orphan.id)


def _delete_bucket(clients: Clients, orphan: Orphan) -> None:
    """Every object version and delete marker first: S3 deletes only empty buckets."""
    s3 = clients("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=orphan.id):
        versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        if versions:
            objects = [{"Key": entry["Key"], "VersionId": entry["VersionId"]} for entry in versions]
            s3.delete_objects(Bucket=orphan.id, Delete={"Objects": objects, "Quiet": True})
    s3.delete_bucket(Bucket=orphan.id)


_DELETE: dict[str, Callable[[Clients, Orphan], None]] = {
    "autoscaling:autoScalingGroup": _delete_group,
    "elasticloadbalancing:loadbalancer": lambda c, o: c("elbv2").delete_load_balancer(LoadBalancerArn=o.id),
    "elasticloadbalancing:targetgroup": lambda c, o: c("elbv2").delete_target_group(TargetGroupArn=o.id),
    "ec2:launch-template": lambda c, o: c("ec2").delete_launch_template(LaunchTemplateId=o.id),
    "ec2:natgateway": lambda c, o: c("ec2").delete_nat_gateway(NatGatewayId=o.id),
    "ec2:elastic-ip": lambda c, o: c("ec2").release_address(AllocationId=o.id),
    "ec2:internet-gateway": _delete_internet_gateway,
    "ec2:security-group-rule": _delete_rule,
    "ec2:subnet": lambda c, o: c("ec2").delete_subnet(SubnetId=o.id),
    "ec2:route-table": _delete_route_table,
    "ec2:security-group": _delete_security_group,
    "ec2:vpc": lambda c, o: c("ec2").delete_vpc(VpcId=o.id),
    "iam:instance-profile": _delete_instance_profile,
    "iam:role": _delete_role,
    "logs:log-group": lambda c, o: c("logs").delete_log_group(logGroupName=o.id),
    "sns:topic": lambda c, o: c("sns").delete_topic(TopicArn=o.id),
    "cloudwatch:alarm": lambda c, o: c("cloudwatch").delete_alarms(AlarmNames=[o.id]),
    "ecr:pull-through-cache-rule": lambda c, o: c("ecr").delete_pull_through_cache_rule(
        ecrRepositoryPrefix=o.id
    ),
    "s3:bucket": _delete_bucket,
    "kms:alias": lambda c, o: c("kms").delete_alias(AliasName=o.id),
    # KMS deletes a key only after a waiting period (7 days at least); it is unusable meanwhile.
    "kms:key": lambda c, o: c("kms").schedule_key_deletion(KeyId=o.id, PendingWindowInDays=7),
}
