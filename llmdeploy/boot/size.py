"""User data size limits per cloud, checked on the form each cloud counts."""

from __future__ import annotations

import base64

from llmdeploy.catalog import Cloud
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import FleetPlan

#: Bytes of user data each cloud accepts: EC2 16 KB of the raw (gzip) bytes, Azure custom_data 64 KB of
#: base64, GCE 256 KB per metadata value.
USER_DATA_LIMITS: dict[Cloud, int] = {"aws": 16 * 1024, "azure": 65535, "gcp": 256 * 1024}


def counted_size(cloud: Cloud, encoded: str) -> int:
    """The bytes the cloud counts against its limit. EC2: "User data is limited to 16 KB, in raw form,
    before it is base64-encoded" (docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html); the
    launch template carries our gzip as base64, so the raw form is the decoded gzip."""
    if cloud == "aws":
        return len(base64.b64decode(encoded))
    return len(encoded.encode())


def check_size(fleet: FleetPlan, encoded: str) -> None:
    """Refuse user data the cloud would reject at launch time, long after `apply` succeeded."""
    size, limit = counted_size(fleet.cloud, encoded), USER_DATA_LIMITS[fleet.cloud]
    if size > limit:
        raise OperationError(
            f"the boot user data of fleet {fleet.name} on {fleet.cloud} is {size} bytes, over "
            f"the cloud's limit of {limit} bytes; this is a defect in llmdeploy's boot templates: "
            "report it with the environment file"
        )
