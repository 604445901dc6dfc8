"""The CloudWatch Logs group the GPU VMs ship their engine, proxy and agent logs to.

The VMs' CloudWatch agent reads the journal (llmdeploy.boot.logs) and writes one stream per
instance. The group is encrypted with the stack's key (the key policy lets CloudWatch Logs use it
for the account's log groups; writers need no KMS permission, CloudWatch Logs encrypts) and keeps
events `monitoring.logs.retention_days` days.
"""

from __future__ import annotations

from cdktn_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from constructs import Construct

from llmdeploy.clouds.aws.resolve import AwsVmLogs
from modules.aws.account import Statement
from modules.common import skip_checks

#: checkov's "log groups keep at least a year" check, and why a shorter retention is the user's call.
_ONE_YEAR_CHECK = "CKV_AWS_338"
_SHORTER_BY_CHOICE = (
    "engine logs are kept monitoring.logs.retention_days (default 30): debugging aid, "
    "not an audit trail; the load balancer's access logs and flow logs keep a year"
)
_ONE_YEAR_DAYS = 365


class EngineLogs(Construct):
    """The environment's VM log group.

    Attributes:
        arn: the group's ARN (without the `:*` suffix).
    """

    _LOG_GROUP_ID = "LogGroup"

    def __init__(self, scope: Construct, id: str, *, logs: AwsVmLogs, key_arn: str) -> None:
        super().__init__(scope, id)
        group = CloudwatchLogGroup(
            self,
            self._LOG_GROUP_ID,
            name=logs.group_name,
            retention_in_days=logs.retention_days,
            kms_key_id=key_arn,
        )
        if logs.retention_days < _ONE_YEAR_DAYS:
            skip_checks(group, {_ONE_YEAR_CHECK: _SHORTER_BY_CHOICE})
        self.arn: str = group.arn


def ship_statements(group_arn: str) -> list[Statement]:
    """What a VM's CloudWatch agent needs to write its stream into this group and no other: create
    its stream (resource: the group) and put events (resource: a stream of the group). No
    CreateLogGroup or PutRetentionPolicy: the stack owns the group and its retention."""
    return [
        {
            "Sid": "ShipOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group_arn, f"{group_arn}:log-stream:*"],
        }
    ]
