"""Every value that reaches Terraform, a boot file or a shell command is checked against its real grammar."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError, Problem
from tests.conftest import MINIMAL, WriteEnv

MODEL_ID = "model_id: Qwen/Qwen2.5-0.5B-Instruct"
REVISION = "revision: 7ae557604adf67be50417f59c2c2f167def9a775"
AWS = "aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}"
KEYED = (
    "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], api_key: {secret: NAME}, "
    "tls: {aws_certificate_arn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc-1'}}\n"
)


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    return caught.value.problems


def refused(write_env: WriteEnv, text: str, path: str) -> str:
    """The one message `text` gets at `path`."""
    problems = problems_of(write_env(text))
    assert [problem.path for problem in problems] == [path], [p.render() for p in problems]
    return problems[0].message


# (what replaces what in MINIMAL, the key path refused)
REFUSED = {
    "model id with a third part": (MODEL_ID, "model_id: Qwen/Qwen2.5/x", "models[0].model_id"),
    "model id without org": (MODEL_ID, "model_id: gpt2", "models[0].model_id"),
    "model id climbing": (MODEL_ID, "model_id: ../etc", "models[0].model_id"),
    "model id with a space": (MODEL_ID, "model_id: 'org/na me'", "models[0].model_id"),
    "model id with a newline": (MODEL_ID, 'model_id: "org/name\\nEvil=1"', "models[0].model_id"),
    "model id part over 96": (MODEL_ID, f"model_id: org/{'a' * 97}", "models[0].model_id"),
    "revision with a semicolon": (REVISION, "revision: 'v1;reboot'", "models[0].revision"),
    "revision with a template": (REVISION, "revision: '%{if true}x%{endif}'", "models[0].revision"),
    "revision with spaces": (REVISION, "revision: 'v1 v2'", "models[0].revision"),
    "revision climbing": (REVISION, "revision: refs/../x", "models[0].revision"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_model_values_are_refused_with_the_grammar(write_env: WriteEnv, case: str) -> None:
    old, new, path = REFUSED[case]
    message = refused(write_env, MINIMAL.replace(old, new), path)
    assert "expected " in message


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("    engine_image: 'ghcr.io/x/y:1.0;reboot'\n", "models[0].engine_image"),
        ("    engine_image: 'ghcr.io/x/y:1.0\\n'\n", "models[0].engine_image"),
        ("    engine_image: 'ghcr.io/x/y@sha256:zz'\n", "models[0].engine_image"),
        ("    engine_image: ghcr.io/X/Y:1.0\n", "models[0].engine_image"),
        ("    health_check: {path: /health;ok}\n", "models[0].health_check.path"),
        ("    health_check: {path: '/health {}'}\n", "models[0].health_check.path"),
        ("    health_check: {path: /../metrics}\n", "models[0].health_check.path"),
        ("    health_check: {path: health}\n", "models[0].health_check.path"),
        ("    hf_token: {secret: '*'}\n", "models[0].hf_token.secret"),
        ("    hf_token: {secret: 'a b'}\n", "models[0].hf_token.secret"),
        ("tags: {'team name': x}\n", "tags.team name.[key]"),
        ("tags: {'a/b': x}\n", "tags.a/b.[key]"),
        ("tags: {'aws:owner': x}\n", "tags.aws:owner.[key]"),
        ("tags: {team: '${var.x}'}\n", "tags.team"),
        ("tags: {team: '%{ if true }'}\n", "tags.team"),
        (f"tags: {{team: {'x' * 257}}}\n", "tags.team"),
        (f"tags: {{{'k' * 129}: x}}\n", f"tags.{'k' * 129}.[key]"),
        ("tags: {environment: other}\n", "tags.environment"),
        ("tags: {llmdeploy-model: other}\n", "tags.llmdeploy-model"),
        ("monitoring: {notify: {emails: ['a@b.com;rm']}}\n", "monitoring.notify.emails[0]"),
        ("monitoring: {notify: {emails: ['${x}@example.com']}}\n", "monitoring.notify.emails[0]"),
        (
            "monitoring: {notify: {aws_sns_topic_arn: 'arn:aws:sns:us-east-1:1:x'}}\n",
            "monitoring.notify.aws_sns_topic_arn",
        ),
        ("state: {backend: s3, bucket: My_Bucket, region: us-east-1}\n", "state.bucket"),
        ("state: {backend: s3, bucket: 192.168.1.1, region: us-east-1}\n", "state.bucket"),
        ("state: {backend: s3, bucket: my-state, region: us-east-7}\n", "state.region"),
        (
            "state: {backend: s3, bucket: my-state, region: us-east-1, key_prefix: '../x'}\n",
            "state.key_prefix",
        ),
        ("state: {backend: gcs, bucket: google-state}\n", "state.bucket"),
        ("state: {backend: local, path: 'state/$(id).tfstate'}\n", "state.path"),
    ],
)
def test_bad_values_are_refused_where_they_are_written(write_env: WriteEnv, line: str, path: str) -> None:
    refused(write_env, MINIMAL + line, path)


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ("account_id: '12345'", "clouds.aws.account_id"),
        ("ami_parameter: '/aws/service/x y'", "clouds.aws.ami_parameter"),
        ("ami_parameter: 'ami-123'", "clouds.aws.ami_parameter"),
        (
            "network: {existing: {vpc_id: vpc-1, public_subnet_ids: [subnet-0aaa0001, subnet-0aaa0002], "
            "private_subnet_ids: [subnet-0bbb0001, subnet-0bbb0002]}}",
            "clouds.aws.network.existing.vpc_id",
        ),
        (
            "network: {existing: {vpc_id: vpc-0abc1234, public_subnet_ids: [subnet-0aaa0001, 'subnet-x;'], "
            "private_subnet_ids: [subnet-0bbb0001, subnet-0bbb0002]}}",
            "clouds.aws.network.existing.public_subnet_ids[1]",
        ),
    ],
)
def test_bad_aws_ids_are_refused(write_env: WriteEnv, settings: str, path: str) -> None:
    refused(write_env, MINIMAL.replace(AWS, AWS[:-1] + ", " + settings + "}"), path)


def test_secret_names_follow_every_enabled_store(write_env: WriteEnv) -> None:
    """AWS takes `/`, Key Vault does not: a file deploying to Azure must use the intersection."""
    aws_only = KEYED.replace("NAME", "team/prod/api") + MINIMAL
    assert load_environment(write_env(aws_only)).access.api_key is not None
    text = aws_only.replace(
        AWS,
        AWS + "\n  azure: {subscription_id: 00000000-0000-0000-0000-000000000000, "
        "location: eastus, zones: ['1'], key_vault: {name: kv-one, resource_group: rg}}",
    )
    text = text.replace("{aws: [g6.xlarge]}", "{aws: [g6.xlarge], azure: [Standard_NC24ads_A100_v4]}")
    text += "    load_balancing: {algorithm: round_robin, request_timeout_s: 240}\n"
    message = refused(write_env, text, "access.api_key.secret")
    assert "Key Vault" in message
    assert "team/prod/api" not in message


def test_a_secret_name_that_looks_like_an_arn_suffix_is_refused_on_aws(write_env: WriteEnv) -> None:
    message = refused(write_env, MINIMAL + "    hf_token: {secret: hf-abcdef}\n", "models[0].hf_token.secret")
    assert "six characters" in message


@pytest.mark.parametrize(
    "line",
    [
        "    engine_image: ghcr.io/huggingface/text-generation-inference:3.3.6\n",
        "    engine_image: registry.example.com:5000/team/tgi@sha256:" + "a" * 64 + "\n",
        "    revision: refs/pr/12\n",
        "    health_check: {path: /v1/health_check.~x}\n",
        "tags: {'cost:center': 'ml team/inference @ 2026 +x=y'}\n",
        "monitoring: {notify: {emails: [first.last+alerts@example.co.uk]}}\n",
        "state: {backend: s3, bucket: my.state-bucket1, region: eu-west-1, key_prefix: team/llm}\n",
    ],
)
def test_real_values_are_accepted(write_env: WriteEnv, line: str) -> None:
    text = MINIMAL.replace(f"    {REVISION}\n", "") if "revision:" in line else MINIMAL
    load_environment(write_env(text + line))


def test_a_bad_secret_name_is_not_echoed(write_env: WriteEnv) -> None:
    token = "hf_" + "x" * 30 + " leaked"
    message = refused(
        write_env, MINIMAL + f"    hf_token: {{secret: '{token}'}}\n", "models[0].hf_token.secret"
    )
    assert token not in message
