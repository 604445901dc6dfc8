"""AWS preflight against the local emulator (moto), with Service Quotas answered by a loopback stand-in.

moto serves EC2 addresses, account attributes, instances and Secrets Manager; its Service Quotas
knows only VPC quotas, so GPU quotas come from a stand-in speaking the Service Quotas JSON protocol
(`X-Amz-Target: ServiceQuotasV20190624.GetServiceQuota`), reached through the SDK's own
AWS_ENDPOINT_URL_SERVICE_QUOTAS. Each test uses its own region, so other tests' resources in the
shared emulator do not count.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from llmdeploy.config.loader import load_environment
from llmdeploy.doctor.aws import AwsAccount, bucket, checks
from llmdeploy.doctor.model import Check
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from tests.boot.stand_ins import Call, serving
from tests.conftest import WriteEnv
from tests.fixtures_aws import AwsClient


def _plan(
    write_env: WriteEnv, region: str, zones: str, extra: str = "", capacity: str = ""
) -> DeploymentPlan:
    path: Path = write_env(
        f"""\
        project: demo
        name: doc
        clouds:
          aws: {{region: {region}, zones: [{zones}]}}
        {extra}
        models:
          - name: chat
            model_id: Qwen/Qwen2.5-0.5B-Instruct
            revision: 7ae557604adf67be50417f59c2c2f167def9a775
            params_billion: 0.5
            instance_types: {{aws: [g6.xlarge, g5.xlarge]}}
            {capacity or "capacity: {min: 1, max: 2}"}
        """
    )
    return build_plan(load_environment(path))


def _by_name(found: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in found}


def test_instance_types_fall_into_their_quota_buckets() -> None:
    assert [
        bucket(name) for name in ("g6.xlarge", "g6e.48xlarge", "p4d.24xlarge", "p5.48xlarge", "m5.large")
    ] == [
        "G",
        "G",
        "P",
        "P5",
        None,
    ]


def test_on_the_emulator_gpu_quotas_are_unknown_and_say_why(
    write_env: WriteEnv, aws_env: dict[str, str]
) -> None:
    plan = _plan(write_env, "eu-central-1", "eu-central-1a, eu-central-1b")
    found = _by_name(checks(plan, AwsAccount.connect("eu-central-1", aws_env)))
    spot = found["quota L-3819A6DF (All G and VT Spot Instance Requests)"]
    assert spot.status == "unknown"
    assert "emulator serves VPC quotas only" in spot.detail
    # All spot (no on-demand base): the on-demand quota is not needed, so not checked.
    assert not any("L-DB2E81BA" in name for name in found)


def test_quotas_compare_the_need_at_max_with_what_other_instances_leave(
    write_env: WriteEnv, aws_env: dict[str, str], aws_client: AwsClient
) -> None:
    # GIVEN 8 on-demand G vCPUs of which another environment's g5.2xlarge (8 vCPUs) uses all,
    # and this environment's own instance, which does not count against it.
    ec2 = aws_client("ec2", region_name="eu-north-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    for kind, tags in (
        ("g5.2xlarge", {"project": "other"}),
        ("g6.xlarge", {"project": "demo", "environment": "doc"}),
    ):
        ec2.run_instances(
            ImageId=image,
            InstanceType=kind,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ],
        )
    limits = {"L-DB2E81BA": 8.0, "L-3819A6DF": 16.0}

    def service_quotas(call: Call) -> tuple[int, str, str]:
        assert call.headers["x-amz-target"] == "ServiceQuotasV20190624.GetServiceQuota"
        asked = json.loads(call.body)
        assert asked["ServiceCode"] == "ec2"
        return (
            200,
            json.dumps({"Quota": {"QuotaCode": asked["QuotaCode"], "Value": limits[asked["QuotaCode"]]}}),
            "application/x-amz-json-1.1",
        )

    # WHEN a fleet of up to 5 with one on-demand replica is checked
    plan = _plan(
        write_env,
        "eu-north-1",
        "eu-north-1a, eu-north-1b",
        capacity="capacity: {min: 1, max: 5}\n            spot: {on_demand_base: 1}",
    )
    with serving(service_quotas) as quotas:
        environ = {**aws_env, "AWS_ENDPOINT_URL_SERVICE_QUOTAS": quotas.url}
        found = _by_name(checks(plan, AwsAccount.connect("eu-north-1", environ)))
    # THEN on-demand (4 vCPUs needed, none left) fails; spot (4 x 4 = 16 of 16) passes
    on_demand = found["quota L-DB2E81BA (Running On-Demand G and VT instances)"]
    assert on_demand.status == "fail"
    assert on_demand.detail.startswith("needs 4 vCPUs at max capacity; 0 of 8 left (8 used elsewhere)")
    assert "request a quota increase" in on_demand.detail
    spot = found["quota L-3819A6DF (All G and VT Spot Instance Requests)"]
    assert (spot.status, spot.detail) == (
        "ok",
        "needs 16 vCPUs at max capacity; 16 of 16 left (0 used elsewhere)",
    )


def test_elastic_ips_count_other_environments_addresses_not_its_own(
    write_env: WriteEnv, aws_env: dict[str, str], aws_client: AwsClient
) -> None:
    ec2 = aws_client("ec2", region_name="ap-southeast-1")
    for project in ("other", "other", "other", "demo"):
        ec2.allocate_address(
            Domain="vpc",
            TagSpecifications=[
                {
                    "ResourceType": "elastic-ip",
                    "Tags": [{"Key": "project", "Value": project}, {"Key": "environment", "Value": "doc"}],
                }
            ],
        )
    three = _plan(write_env, "ap-southeast-1", "ap-southeast-1a, ap-southeast-1b, ap-southeast-1c")
    two = _plan(write_env, "ap-southeast-1", "ap-southeast-1a, ap-southeast-1b")
    title = "Elastic IPs (one per zone for the NAT gateways)"
    account = AwsAccount.connect("ap-southeast-1", aws_env)
    failed = _by_name(checks(three, account))[title]
    assert failed.status == "fail"
    assert failed.detail.startswith("needs 3 addresses; 2 of 5 left (3 used elsewhere)")
    assert _by_name(checks(two, account))[title].status == "ok"


def test_existing_vpc_needs_no_address(write_env: WriteEnv, aws_env: dict[str, str]) -> None:
    network = (
        "    network:\n"
        "      existing: {vpc_id: vpc-0abc1234, public_subnet_ids: [subnet-0aaa1111, subnet-0aaa2222], "
        "private_subnet_ids: [subnet-0bbb1111, subnet-0bbb2222]}"
    )
    path = write_env(
        f"""\
project: demo
name: doc
clouds:
  aws:
    region: eu-west-1
    zones: [eu-west-1a, eu-west-1b]
{network}
models:
  - name: chat
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {{aws: [g6.xlarge]}}
"""
    )
    plan = build_plan(load_environment(path))
    found = _by_name(checks(plan, AwsAccount.connect("eu-west-1", aws_env)))
    assert found["Elastic IPs (one per zone for the NAT gateways)"].status == "ok"


def test_secrets_missing_json_or_plain_and_never_shown(
    write_env: WriteEnv, aws_env: dict[str, str], aws_client: AwsClient
) -> None:
    run = uuid.uuid4().hex[:8]
    names = {key: f"doc-{key}-{run}" for key in ("hf", "api", "next")}
    secrets = aws_client("secretsmanager", region_name="us-east-2")
    secrets.create_secret(Name=names["hf"], SecretString="hf_plainTokenValue123")
    secrets.create_secret(Name=names["api"], SecretString='{"api_key": "s3cr3t-Value"}')
    access = (
        "access:\n"
        f"          api_key: {{secret: {names['api']}}}\n"
        f"          next_api_key: {{secret: {names['next']}}}"
    )
    plan = _plan(
        write_env,
        "us-east-2",
        "us-east-2a, us-east-2b",
        extra=access,
        capacity=f"hf_token: {{secret: {names['hf']}}}",
    )
    found = _by_name(checks(plan, AwsAccount.connect("us-east-2", aws_env)))
    hf = found[f"secret {names['hf']} (models.chat.hf_token)"]
    api = found[f"secret {names['api']} (access.api_key)"]
    nxt = found[f"secret {names['next']} (access.next_api_key)"]
    assert (hf.status, api.status, nxt.status) == ("ok", "fail", "fail")
    assert "JSON object (key/value pairs)" in api.detail and "plain" in api.detail
    assert f"Secrets Manager in us-east-2 has no secret {names['next']}" in nxt.detail
    shown = repr(found)
    assert "s3cr3t" not in shown and "plainTokenValue" not in shown


def test_instance_types_must_be_offered_in_the_zones(write_env: WriteEnv, aws_env: dict[str, str]) -> None:
    # The emulator's offerings: g6.xlarge in eu-north-1a and -1b, not -1c; no G type at all in ap-southeast-1.
    partly = _plan(write_env, "eu-north-1", "eu-north-1b, eu-north-1c")
    found = _by_name(checks(partly, AwsAccount.connect("eu-north-1", aws_env)))
    check = found["instance types g6.xlarge, g5.xlarge in eu-north-1b, eu-north-1c"]
    assert check.status == "ok" and "not offered: g6.xlarge in eu-north-1c" in check.detail
    nowhere = _plan(write_env, "ap-southeast-1", "ap-southeast-1a, ap-southeast-1b")
    found = _by_name(checks(nowhere, AwsAccount.connect("ap-southeast-1", aws_env)))
    check = found["instance types g6.xlarge, g5.xlarge in ap-southeast-1a, ap-southeast-1b"]
    assert check.status == "fail" and "none of these types is offered" in check.detail
