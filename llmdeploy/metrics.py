"""Names of the engine metrics llmdeploy publishes from every VM, shared with the monitoring constructs.

The metrics relay on each instance (llmdeploy/boot/agents/metrics_relay.py) publishes these names in
the LLMDeploy namespace with one value per dimension below, so dashboards and autoscaling policies on
every cloud refer to the same series.
"""

from __future__ import annotations

#: CloudWatch namespace and Azure Monitor custom-metric namespace.
NAMESPACE = "LLMDeploy"
#: GCP metric types are custom.googleapis.com/llmdeploy/<metric name>, with lower-case labels.
GCP_METRIC_PREFIX = "custom.googleapis.com/llmdeploy/"

#: Two llmdeploy projects with the same environment and model names may share an account and region.
PROJECT = "Project"
ENVIRONMENT = "Environment"
MODEL = "Model"
SLOT = "Slot"
#: Every published series carries exactly these dimensions (GCP: the same names in lower case).
DIMENSIONS = (PROJECT, ENVIRONMENT, MODEL, SLOT)

#: Requests waiting in the engine (gauge): the autoscaling signal for target_queue_size.
QUEUE_SIZE = "QueueSize"
#: Requests in the running batch (gauge).
BATCH_SIZE = "BatchSize"
#: Generated tokens per second on one replica (rate over the last interval); sum over replicas.
GENERATED_TOKENS_PER_SECOND = "GeneratedTokensPerSecond"
#: Mean end-to-end request duration over the last interval, in seconds; absent when idle.
REQUEST_DURATION_SECONDS = "RequestDurationSeconds"
METRIC_NAMES = (QUEUE_SIZE, BATCH_SIZE, GENERATED_TOKENS_PER_SECOND, REQUEST_DURATION_SECONDS)

#: The router tier's series (llmdeploy/routing/publish.py, with routing enabled), same dimensions:
#: requests waiting in a router (gauge), arrival-to-dispatch time (ms; statistic set), 429s per
#: minute and ready replicas in the routers' set. Published by every router VM (GCP: per VM).
ROUTER_HELD = "RouterHeldRequests"
ROUTER_QUEUE_MS = "RouterQueueMilliseconds"
ROUTER_REJECTED = "RouterRejected"
ROUTER_REPLICAS = "RouterReplicas"
ROUTER_METRIC_NAMES = (ROUTER_HELD, ROUTER_QUEUE_MS, ROUTER_REJECTED, ROUTER_REPLICAS)

#: Seconds between two publications from one instance (CloudWatch standard resolution).
PUBLISH_INTERVAL_S = 60


def dimension_values(project: str, env: str, model: str, slot: str) -> dict[str, str]:
    """The dimensions of one fleet's series, by dimension name."""
    return {PROJECT: project, ENVIRONMENT: env, MODEL: model, SLOT: slot}
