"""The `monitoring.logs:` block: engine, proxy and agent logs shipped to each cloud's log service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmdeploy.config.common import Strict

#: Days a shipped log is kept: the values every cloud accepts. CloudWatch Logs takes only a fixed
#: list (provider `retention_in_days` validation: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365,
#: 400, 545, 731, ...), a Log Analytics workspace 30 to 730 (azurerm `retention_in_days`), a Cloud
#: Logging bucket 1 to 3650: their common values from 30 days on.
RetentionDays = Literal[30, 60, 90, 120, 150, 180, 365, 400, 545]


class Logs(Strict):
    """Where the VMs' engine, proxy and llmdeploy agent logs go besides the VM's own journal."""

    ship: bool = Field(
        default=True,
        description="Ship the GPU VMs' engine, proxy and agent logs to the cloud's log service "
        "(CloudWatch Logs, Cloud Logging, Log Analytics); false keeps them on the VM only (journald).",
    )
    retention_days: RetentionDays = Field(
        default=30,
        description="Days the cloud keeps shipped logs: 30, 60, 90, 120, 150, 180, 365, 400 or 545 "
        "(the values all three clouds accept).",
    )
