"""boto3 clients configured from a given environment rather than this process's own.

The CLI runs Terraform and reads the cloud with one environment (with `--local`, the emulator's),
which can differ from os.environ: clients take credentials, profile and endpoints
(AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>) from it. boto3 is imported on first use only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The SDK's names of the services' endpoint variables (AWS_ENDPOINT_URL_<SERVICE>).
ENDPOINT_NAMES = {
    "autoscaling": "AUTO_SCALING",
    "cloudwatch": "CLOUDWATCH",
    "ec2": "EC2",
    "ecr": "ECR",
    "elbv2": "ELASTIC_LOAD_BALANCING_V2",
    "iam": "IAM",
    "kms": "KMS",
    "logs": "CLOUDWATCH_LOGS",
    "resourcegroupstaggingapi": "RESOURCE_GROUPS_TAGGING_API",
    "route53": "ROUTE_53",
    "s3": "S3",
    "secretsmanager": "SECRETS_MANAGER",
    "service-quotas": "SERVICE_QUOTAS",
    "sns": "SNS",
}


def aws_client(service: str, region: str, environ: Mapping[str, str]) -> Any:
    """A boto3 client for `service` in `region`, configured from `environ` alone."""
    import boto3  # type: ignore[import-untyped]

    session = boto3.session.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=environ.get("AWS_SESSION_TOKEN"),
        profile_name=environ.get("AWS_PROFILE"),
        region_name=region,
    )
    endpoint = environ.get(f"AWS_ENDPOINT_URL_{ENDPOINT_NAMES[service]}") or environ.get("AWS_ENDPOINT_URL")
    return session.client(service, endpoint_url=endpoint)
