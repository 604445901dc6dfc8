"""Azure: Key Vault, Azure Monitor custom metrics, Scheduled Events, and the Front Door profile id."""

from __future__ import annotations

import base64
import email.utils
import json
import os
import time
import urllib.parse
from datetime import datetime, timezone

from .metadata import Metadata, authorized, log, request
from .notice import SHORT_NOTICE_S, Notice

#: The first Scheduled Events call enables the service and may take up to two minutes.
FIRST_EVENTS_CALL_S = 120.0
USER_DATA = "instance/compute/userData?api-version=2021-01-01&format=text"


def fetch_secret(name: str, metadata: Metadata) -> str:
    vault = os.environ["KEY_VAULT_NAME"]
    base = os.environ.get("KEY_VAULT_URL", f"https://{vault}.vault.azure.net")
    token = metadata.access_token(urllib.parse.quote("https://vault.azure.net", safe=""))
    return str(json.loads(authorized("GET", f"{base}/secrets/{name}?api-version=7.4", token))["value"])


def publish_metrics(values: dict[str, float], dimensions: dict[str, str], metadata: Metadata) -> None:
    compute = metadata.azure_compute()
    scale_set = (
        f"/subscriptions/{compute['subscriptionId']}/resourceGroups/{compute['resourceGroupName']}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{compute['vmScaleSetName']}"
    )
    base = os.environ.get("MONITORING_URL", f"https://{compute['location']}.monitoring.azure.com")
    token = metadata.access_token("https%3A%2F%2Fmonitoring.azure.com%2F")
    # The VM's python3 is 3.10 (Ubuntu 22.04 images), which lacks datetime.UTC.
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: UP017
    for name, value in values.items():
        series = {
            "dimValues": list(dimensions.values()),
            "min": value,
            "max": value,
            "sum": value,
            "count": 1,
        }
        base_data = {
            "metric": name,
            "namespace": os.environ["METRIC_NAMESPACE"],
            "dimNames": list(dimensions),
            "series": [series],
        }
        authorized(
            "POST", f"{base}{scale_set}/metrics", token, {"time": stamp, "data": {"baseData": base_data}}
        )


def front_door_id(metadata: Metadata) -> str:
    """The Front Door profile's id (X-Azure-FDID) from the scale set's user data; "" when absent."""
    text = base64.b64decode(metadata.get(USER_DATA) or "").decode()
    return str(json.loads(text).get(os.environ["FRONT_DOOR_ID_KEY"], "")) if text else ""


class Watcher:
    """Scheduled Events naming this VM: Preempt (spot eviction), Terminate (scale-in), and the
    Reboot/Redeploy of host maintenance. Each is approved once drained, so it starts without waiting."""

    EVENTS = "scheduledevents?api-version=2020-07-01"
    TYPES = ("Preempt", "Terminate", "Reboot", "Redeploy")

    def __init__(self, metadata: Metadata) -> None:
        self.metadata = metadata
        self.events_timeout = FIRST_EVENTS_CALL_S

    def poll(self) -> Notice | None:
        name = self.metadata.get("instance/compute/name?api-version=2021-02-01&format=text")
        events = self.metadata.get_json(self.EVENTS, timeout=self.events_timeout) or {}
        self.events_timeout = 10.0
        for event in events.get("Events", []):
            if event.get("EventType") in self.TYPES and name in event.get("Resources", []):
                parsed = (
                    email.utils.parsedate_to_datetime(event["NotBefore"]) if event.get("NotBefore") else None
                )
                deadline = parsed.timestamp() if parsed else time.time() + SHORT_NOTICE_S
                return Notice(event["EventType"], deadline, event["EventId"])
        return None

    def detach(self, notice: Notice) -> None:
        """Nothing beyond the drain flag: the load balancer's probe fails at once."""

    def finish(self, notice: Notice) -> None:
        # Approving the event lets Azure proceed now instead of waiting for NotBefore.
        body = {"StartRequests": [{"EventId": notice.event_id}]}
        status, _ = request("POST", f"{self.metadata.base_url}/{self.EVENTS}", {"Metadata": "true"}, body)
        log(f"scheduled event {notice.event_id} approved (HTTP {status})")

    def resumed(self) -> bool:
        return False
