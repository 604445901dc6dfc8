"""The AWS account, partition and region a stack deploys into, for building ARNs and policies.

Read with data sources at plan time, so the synthesized JSON names no account.
"""

from __future__ import annotations

import json
from typing import Any

from cdktn_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktn_provider_aws.data_aws_partition import DataAwsPartition
from constructs import Construct

Statement = dict[str, Any]


class Account(Construct):
    """Account id and partition of the deploying identity, plus the stack's region."""

    _IDENTITY_ID = "Identity"
    _PARTITION_ID = "Partition"

    def __init__(self, scope: Construct, id: str, *, region: str) -> None:
        super().__init__(scope, id)
        self.region = region
        self.id: str = DataAwsCallerIdentity(self, self._IDENTITY_ID).account_id
        self.partition: str = DataAwsPartition(self, self._PARTITION_ID).partition

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        """`arn:<partition>:<service>:<region>:<account>:<resource>` (IAM ARNs have no region)."""
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.id}:{resource}"

    @property
    def root(self) -> str:
        """The account's root principal, which key policies must name to stay manageable."""
        return self.arn("iam", "root", region=False)


def policy(*statements: Statement) -> str:
    """An IAM policy document with `statements` (tokens inside stay Terraform references)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def service_trust(service: str, account: Account | None = None) -> str:
    """A role trust policy for an AWS service; with `account`, only on behalf of that account.

    EC2 does not send aws:SourceAccount when an instance assumes its role, so instance roles pass
    no account; services that do send it (flow logs) pass one against the confused deputy.
    """
    statement: Statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account.id}}
    return policy(statement)
