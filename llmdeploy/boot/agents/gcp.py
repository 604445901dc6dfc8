"""GCP: Secret Manager, Cloud Monitoring custom metrics, and the notices of the metadata server."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import datetime, timezone

from .metadata import Metadata, authorized
from .notice import SHORT_NOTICE_S, Notice

#: GCP sets maintenance-event 60 s before a host maintenance event (getting-live-migration-notice).
MAINTENANCE_NOTICE_S = 60.0


def fetch_secret(name: str, metadata: Metadata) -> str:
    project = metadata.get("project/project-id")
    base = os.environ.get("SECRET_MANAGER_URL", "https://secretmanager.googleapis.com")
    url = f"{base}/v1/projects/{project}/secrets/{name}/versions/latest:access"
    body = authorized("GET", url, metadata.access_token())
    return base64.b64decode(json.loads(body)["payload"]["data"]).decode()


def publish_metrics(values: dict[str, float], dimensions: dict[str, str], metadata: Metadata) -> None:
    project, zone = (
        metadata.get("project/project-id"),
        (metadata.get("instance/zone") or "").rsplit("/", 1)[-1],
    )
    resource = {
        "type": "gce_instance",
        "labels": {"project_id": project, "zone": zone, "instance_id": metadata.get("instance/id")},
    }
    labels = {key.lower(): value for key, value in dimensions.items()}
    # The VM's python3 is 3.10 (Ubuntu 22.04 images), which lacks datetime.UTC.
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: UP017
    series = [
        {
            "metric": {
                "type": f"custom.googleapis.com/{os.environ['METRIC_NAMESPACE'].lower()}/{name}",
                "labels": labels,
            },
            "resource": resource,
            "points": [{"interval": {"endTime": stamp}, "value": {"doubleValue": value}}],
        }
        for name, value in values.items()
    ]
    base = os.environ.get("MONITORING_URL", "https://monitoring.googleapis.com")
    authorized(
        "POST", f"{base}/v3/projects/{project}/timeSeries", metadata.access_token(), {"timeSeries": series}
    )


class Watcher:
    """GCE: instance/preempted turns TRUE about 30 s before the VM stops; maintenance-event 60 s before
    a GPU VM (which cannot live-migrate) is stopped and restarted on another host."""

    def __init__(self, metadata: Metadata) -> None:
        self.metadata = metadata

    def poll(self) -> Notice | None:
        if self.metadata.get("instance/preempted") == "TRUE":
            return Notice("preempted", time.time() + SHORT_NOTICE_S)
        if self._maintenance():
            return Notice("host maintenance", time.time() + MAINTENANCE_NOTICE_S, resumable=True)
        return None

    def _maintenance(self) -> bool:
        return self.metadata.get("instance/maintenance-event") == "TERMINATE_ON_HOST_MAINTENANCE"

    def detach(self, notice: Notice) -> None:
        """Nothing beyond the drain flag: the load balancer's health check fails at once."""

    def finish(self, notice: Notice) -> None:
        """Nothing to acknowledge: GCE proceeds on its own."""

    def resumed(self) -> bool:
        return not self._maintenance()
