"""User data size limits per cloud, checked on the encoded form the cloud receives."""

from __future__ import annotations

from llmdeploy.catalog import Cloud
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import FleetPlan

#: Bytes of encoded user data each cloud accepts: EC2 16 KB, Azure custom_data 64 KB of base64,
#: GCE 256 KB per metadata value.
USER_DATA_LIMITS: dict[Cloud, int] = {"aws": 16 * 1024, "azure": 65535, "gcp": 256 * 1024}


def check_size(fleet: FleetPlan, encoded: str) -> None:
    """Refuse user data the cloud would reject at launch time, long after `apply` succeeded."""
    size, limit = len(encoded.encode()), USER_DATA_LIMITS[fleet.cloud]
    if size > limit:
        raise OperationError(
            f"the boot user data of fleet {fleet.name} on {fleet.cloud} is {size} bytes encoded, over "
            f"the cloud's limit of {limit} bytes; this is a defect in llmdeploy's boot templates: "
            "report it with the environment file"
        )
