"""The load balancer's access log bucket: private, versioned, encrypted, expiring.

Application Load Balancers write access logs only to buckets encrypted with S3-managed keys
(SSE-S3), and only with a bucket policy that admits the region's load balancing log writer.
"""

from __future__ import annotations

from cdktn_provider_aws.data_aws_elb_service_account import DataAwsElbServiceAccount
from cdktn_provider_aws.s3_bucket import S3Bucket
from cdktn_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktn_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktn_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktn_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktn_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktn_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from llmdeploy.clouds.aws.resolve import ACCESS_LOG_EXPIRY_DAYS
from modules.aws.account import Account, policy
from modules.common import skip_checks

#: Multipart uploads the log writer abandoned are cleaned up after this many days.
_ABANDONED_UPLOAD_DAYS = 7


class AccessLogBucket(Construct):
    """A bucket the load balancer writes its access logs to.

    Attributes:
        bucket: the bucket name.
        ready: the bucket policy; a load balancer must depend on it (AWS checks write access).
    """

    _BUCKET_ID = "Bucket"
    _VERSIONING_ID = "Versioning"
    _ENCRYPTION_ID = "Encryption"
    _PUBLIC_ACCESS_ID = "PublicAccessBlock"
    _OWNERSHIP_ID = "Ownership"
    _LIFECYCLE_ID = "Lifecycle"
    _WRITER_ID = "LogWriter"
    _POLICY_ID = "Policy"

    def __init__(self, scope: Construct, id: str, *, bucket_prefix: str, account: Account) -> None:
        super().__init__(scope, id)
        bucket = S3Bucket(self, self._BUCKET_ID, bucket_prefix=bucket_prefix)
        skip_checks(
            bucket,
            {
                "CKV_AWS_18": "this is the access log bucket: logging it would log itself",
                "CKV_AWS_144": "logs are analysed in-region; a replica doubles storage with no recovery need",
                "CKV_AWS_145": "ALB access logs support only SSE-S3 encryption, not KMS",
                "CKV2_AWS_62": "nothing consumes object events of log files",
            },
        )
        S3BucketVersioningA(
            self,
            self._VERSIONING_ID,
            bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            self._ENCRYPTION_ID,
            bucket=bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=(
                        S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                            sse_algorithm="AES256"
                        )
                    )
                )
            ],
        )
        S3BucketPublicAccessBlock(
            self,
            self._PUBLIC_ACCESS_ID,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self,
            self._OWNERSHIP_ID,
            bucket=bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        S3BucketLifecycleConfiguration(
            self,
            self._LIFECYCLE_ID,
            bucket=bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=ACCESS_LOG_EXPIRY_DAYS)],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(noncurrent_days=1)
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                            days_after_initiation=_ABANDONED_UPLOAD_DAYS
                        )
                    ],
                )
            ],
        )
        writer = DataAwsElbServiceAccount(self, self._WRITER_ID)
        self.ready = S3BucketPolicy(
            self,
            self._POLICY_ID,
            bucket=bucket.id,
            policy=policy(
                {
                    "Sid": "LoadBalancerWritesLogs",
                    "Effect": "Allow",
                    "Principal": {"AWS": writer.arn},
                    "Action": "s3:PutObject",
                    "Resource": f"{bucket.arn}/AWSLogs/{account.id}/*",
                },
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket.arn, f"{bucket.arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ),
        )
        self.bucket: str = bucket.id
