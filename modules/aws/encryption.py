"""The stack's customer-managed KMS key: encrypts its log groups and its alarm topic.

One key per stack (not per resource): the services that use it are named in its policy.
"""

from __future__ import annotations

from cdktn_provider_aws.kms_alias import KmsAlias
from cdktn_provider_aws.kms_key import KmsKey
from constructs import Construct

from modules.aws.account import Account, policy

#: What a service needs to write data encrypted under the key and read it back.
_USE = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]


class EncryptionKey(Construct):
    """A rotating KMS key usable by CloudWatch Logs and by CloudWatch alarms publishing to SNS."""

    _KEY_ID = "Key"
    _ALIAS_ID = "Alias"

    def __init__(self, scope: Construct, id: str, *, name: str, alias: str, account: Account) -> None:
        super().__init__(scope, id)
        key = KmsKey(
            self,
            self._KEY_ID,
            description=f"llmdeploy {name}: logs and alarm notifications",
            enable_key_rotation=True,
            policy=policy(
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": account.root},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "LogsEncrypt",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{account.region}.amazonaws.com"},
                    "Action": _USE,
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": account.arn("logs", "*")}
                    },
                },
                {
                    "Sid": "AlarmsPublishToEncryptedTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account.id}},
                },
            ),
        )
        KmsAlias(self, self._ALIAS_ID, name=alias, target_key_id=key.key_id)
        self.arn: str = key.arn
