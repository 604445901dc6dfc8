"""Where the GPU VMs' logs are kept: a log bucket per environment, and the sink that routes them there.

The VMs' Ops Agent writes one log (llmdeploy.boot.logs.gcp_log_id) with the fleet service
account's `roles/logging.logWriter` (modules/gcp/gpu_fleet.py; writing log entries is a
project-level permission, there is no narrower grant). The sink routes exactly that log into the
environment's bucket, in the stack's region, kept `monitoring.logs.retention_days`; an exclusion
keeps it out of the _Default bucket, so it is stored (and billed) once. A sink into a log bucket of
its own project needs no grant to its writer identity.
"""

from __future__ import annotations

from cdktn_provider_google.logging_project_bucket_config import LoggingProjectBucketConfig
from cdktn_provider_google.logging_project_exclusion import LoggingProjectExclusion
from cdktn_provider_google.logging_project_sink import LoggingProjectSink
from constructs import Construct

from llmdeploy.clouds.gcp.resolve import GcpVmLogs


class EngineLogs(Construct):
    """The environment's VM log bucket, its sink and the _Default exclusion."""

    _BUCKET_ID = "Bucket"
    _SINK_ID = "Sink"
    _EXCLUSION_ID = "NotInDefault"

    def __init__(self, scope: Construct, id: str, *, project: str, logs: GcpVmLogs) -> None:
        super().__init__(scope, id)
        bucket = LoggingProjectBucketConfig(
            self,
            self._BUCKET_ID,
            project=project,
            location=logs.location,
            bucket_id=logs.bucket_id,
            retention_days=logs.retention_days,
            description="llmdeploy: the GPU VMs' engine, proxy and agent logs",
        )
        LoggingProjectSink(
            self,
            self._SINK_ID,
            project=project,
            name=logs.bucket_id,
            # The bucket's id is `projects/<p>/locations/<l>/buckets/<b>` (provider docs, Attributes).
            destination=f"logging.googleapis.com/{bucket.id}",
            filter=logs.filter,
            unique_writer_identity=False,
            description="llmdeploy: the GPU VMs' log into its bucket",
        )
        LoggingProjectExclusion(
            self,
            self._EXCLUSION_ID,
            project=project,
            name=f"{logs.bucket_id}-not-in-default",
            filter=logs.filter,
            description="llmdeploy: the GPU VMs' log is kept in its own bucket only",
        )
