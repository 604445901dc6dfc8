"""Orphans on the emulator: resources with the environment's tags that the state does not name are
found (by the Tagging API and describe calls) and deleted in an order AWS accepts."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from llmdeploy import aws_session
from llmdeploy.boot.registry import stack_prefix
from llmdeploy.emulator.state import EmulatorHandle
from llmdeploy.terraform.aws_orphans import ADDRESS_TAG, delete_orphans, find_orphans
from tests.fixtures_aws import AwsClient


def _tags(env: str) -> dict[str, str]:
    return {"project": "orphans", "environment": env, "managed-by": "llmdeploy"}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _stack(aws_client: AwsClient, env: str) -> dict[str, str]:
    """What an apply of a fleet creates, tagged as llmdeploy tags it; returns the ids."""
    tags = _tags(env)
    ec2, elbv2, autoscaling = aws_client("ec2"), aws_client("elbv2"), aws_client("autoscaling")
    spec = [{"ResourceType": kind, "Tags": _tag_list(tags)} for kind in ("vpc",)]
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16", TagSpecifications=spec)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc,
        CidrBlock="10.61.1.0/24",
        AvailabilityZone="us-east-1a",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": _tag_list(tags)}],
    )["Subnet"]["SubnetId"]
    group = ec2.create_security_group(
        GroupName=f"{env}-sg",
        Description="fleet",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": _tag_list(tags)}],
    )["GroupId"]
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{env}-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "g6.xlarge"},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": _tag_list(tags)}],
    )["LaunchTemplate"]["LaunchTemplateId"]
    target_group = elbv2.create_target_group(
        Name=f"{env}-tg", Protocol="HTTP", Port=80, VpcId=vpc, Tags=_tag_list(tags)
    )["TargetGroups"][0]["TargetGroupArn"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=f"{env}-asg",
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=0,
        MaxSize=1,
        VPCZoneIdentifier=subnet,
        Tags=[{**tag, "PropagateAtLaunch": True} for tag in _tag_list(tags)],
    )
    rule = ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
        ],
        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": _tag_list(tags)}],
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    iam = aws_client("iam")
    role = iam.create_role(RoleName=f"{env}-role", AssumeRolePolicyDocument="{}", Tags=_tag_list(tags))
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=f"{env}-role", PolicyName="read", PolicyDocument=json.dumps(policy))
    iam.create_instance_profile(InstanceProfileName=f"{env}-profile", Tags=_tag_list(tags))
    iam.add_role_to_instance_profile(InstanceProfileName=f"{env}-profile", RoleName=f"{env}-role")
    ids = {"vpc": vpc, "subnet": subnet, "sg": group, "lt": template, "tg": target_group, "rule": rule}
    return ids | {"asg": f"{env}-asg", "role": role["Role"]["Arn"], "profile": f"{env}-profile"}


def _state(*values: str) -> dict[str, Any]:
    """A `show -json` state document naming `values` (as ids and ARNs appear in it)."""
    resources = [{"address": f"r.{index}", "values": {"id": value}} for index, value in enumerate(values)]
    return {"values": {"root_module": {"resources": resources}}}


def test_only_what_the_state_lacks_is_an_orphan_and_deleting_them_leaves_the_rest(
    aws_client: AwsClient, unique_name: str
) -> None:
    ids = _stack(aws_client, unique_name)
    other_env = _stack(aws_client, f"{unique_name}x")  # another environment's: never touched
    # Killed while creating the launch template, the group, the target group, a rule and the
    # instance profile: never recorded. The role is in the state by its ARN.
    state = _state(ids["vpc"], ids["subnet"], ids["sg"], ids["role"])
    found = find_orphans(_tags(unique_name), state, aws_client)
    assert [(orphan.kind, orphan.id) for orphan in found] == [
        ("autoscaling:autoScalingGroup", ids["asg"]),
        ("elasticloadbalancing:targetgroup", ids["tg"]),
        ("ec2:launch-template", ids["lt"]),
        ("ec2:security-group-rule", ids["rule"]),
        ("iam:instance-profile", ids["profile"]),
    ]
    assert delete_orphans(found, aws_client) == []
    assert find_orphans(_tags(unique_name), state, aws_client) == []
    ec2 = aws_client("ec2")
    assert ec2.describe_vpcs(VpcIds=[ids["vpc"]])["Vpcs"]  # recorded in the state: kept
    assert ec2.describe_launch_templates(LaunchTemplateIds=[other_env["lt"]])["LaunchTemplates"]
    # Everything of a stack whose state is gone (a killed first apply) goes, dependents first.
    everything = find_orphans(_tags(f"{unique_name}x"), _state(), aws_client)
    assert {orphan.kind for orphan in everything} >= {
        "ec2:vpc",
        "ec2:subnet",
        "ec2:security-group",
        "iam:role",
    }
    assert delete_orphans(everything, aws_client) == []
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [other_env["vpc"]]}])["Vpcs"] == []
    assert find_orphans(_tags(f"{unique_name}x"), _state(), aws_client) == []


def test_a_deleted_nat_gateway_and_the_rules_of_a_deleted_group_are_no_orphans(
    aws_client: AwsClient, unique_name: str
) -> None:
    """A destroy leaves a NAT gateway listed in state "deleted" for about an hour (EC2 API reference,
    DescribeNatGateways), and deleting a security group deletes its rules: neither is left over."""
    ids = _stack(aws_client, unique_name)
    ec2 = aws_client("ec2")
    address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    gateway = ec2.create_nat_gateway(
        SubnetId=ids["subnet"],
        AllocationId=address,
        TagSpecifications=[{"ResourceType": "natgateway", "Tags": _tag_list(_tags(unique_name))}],
    )["NatGateway"]["NatGatewayId"]
    # The state lacks the gateway and the rule, as after a kill; both are found while they live.
    state = _state(*(value for name, value in ids.items() if name != "rule"), address)
    assert [(o.kind, o.id) for o in find_orphans(_tags(unique_name), state, aws_client)] == [
        ("ec2:natgateway", gateway),
        ("ec2:security-group-rule", ids["rule"]),
    ]
    ec2.delete_nat_gateway(NatGatewayId=gateway)
    ec2.delete_security_group(GroupId=ids["sg"])
    assert find_orphans(_tags(unique_name), state, aws_client) == []


def test_buckets_keys_with_their_aliases_and_cache_rules_are_found_and_deleted(
    aws_client: AwsClient, unique_name: str
) -> None:
    """Each of these blocks the next apply on a name that already exists, or keeps costing money."""
    tags = _tags(unique_name)
    s3, kms, ecr = aws_client("s3"), aws_client("kms"), aws_client("ecr")
    bucket = f"{unique_name}-access-logs"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tag_list(tags)})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"first", b"second"):  # two versions: the bucket must be emptied of both
        s3.put_object(Bucket=bucket, Key="AWSLogs/log.gz", Body=body)
    tag_pairs = [{"TagKey": key, "TagValue": value} for key, value in tags.items()]
    key = kms.create_key(Tags=tag_pairs)["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/{unique_name}-logs", TargetKeyId=key)
    foreign = kms.create_key(Tags=[{"TagKey": "project", "TagValue": "someone-else"}])["KeyMetadata"]["KeyId"]
    prefix = f"{stack_prefix('orphans', unique_name)}docker-hub"
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl="public.ecr.aws")
    found = find_orphans(tags, _state(), aws_client)
    assert [(orphan.kind, orphan.id) for orphan in found] == [
        ("ecr:pull-through-cache-rule", prefix),
        ("s3:bucket", bucket),
        ("kms:alias", f"alias/{unique_name}-logs"),
        ("kms:key", key),
    ]
    # In the state by name and id: nothing is an orphan.
    assert find_orphans(tags, _state(prefix, bucket, f"alias/{unique_name}-logs", key), aws_client) == []
    assert delete_orphans(found, aws_client) == []
    assert find_orphans(tags, _state(), aws_client) == []
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert kms.describe_key(KeyId=foreign)["KeyMetadata"]["KeyState"] == "Enabled"
    assert bucket not in [entry["Name"] for entry in s3.list_buckets()["Buckets"]]


def test_the_lookup_runs_through_the_commands_own_clients(emulator: EmulatorHandle, unique_name: str) -> None:
    """`state orphans` and the destroy check build their clients with llmdeploy.aws_session: every
    service the lookup calls must have its endpoint variable there (a missing one crashed destroy)."""
    environ = {
        "AWS_ENDPOINT_URL": emulator.endpoint_url,
        "AWS_ACCESS_KEY_ID": "llmdeploy-local",
        "AWS_SECRET_ACCESS_KEY": "llmdeploy-local",
    }
    clients = partial(_session_client, environ=environ)
    assert find_orphans(_tags(unique_name), _state(), clients) == []


def _session_client(service: str, environ: dict[str, str]) -> Any:
    return aws_session.aws_client(service, "us-east-1", environ)


def test_each_orphan_carries_the_address_its_tag_names(aws_client: AwsClient, unique_name: str) -> None:
    """The tag llmdeploy puts on every taggable resource is read back by each kind of lookup."""
    tags = _tags(unique_name)

    def tagged(address: str) -> list[dict[str, str]]:
        return _tag_list({**tags, ADDRESS_TAG: address})

    ec2, elbv2, iam, kms = aws_client("ec2"), aws_client("elbv2"), aws_client("iam"), aws_client("kms")
    vpc = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{unique_name}-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b"},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": tagged("aws_launch_template.T")}],
    )["LaunchTemplate"]["LaunchTemplateId"]
    group = elbv2.create_target_group(
        Name=f"{unique_name}-tg", Protocol="HTTP", Port=80, VpcId=vpc, Tags=tagged("aws_lb_target_group.G")
    )["TargetGroups"][0]["TargetGroupArn"]
    iam.create_role(RoleName=f"{unique_name}-r", AssumeRolePolicyDocument="{}", Tags=tagged("aws_iam_role.R"))
    pairs = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in tagged("aws_kms_key.K")]
    key = kms.create_key(Tags=pairs)["KeyMetadata"]["KeyId"]
    found = {orphan.id: orphan.address for orphan in find_orphans(_tags(unique_name), _state(), aws_client)}
    assert found == {
        template: "aws_launch_template.T",
        group: "aws_lb_target_group.G",
        f"{unique_name}-r": "aws_iam_role.R",
        key: "aws_kms_key.K",
    }
