"""The result of one preflight check, cloud-neutral."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llmdeploy.catalog import Cloud

#: ok: it will not fail for this reason; fail: it will; unknown: it could not be told (and why).
Status = Literal["ok", "fail", "unknown"]


@dataclass(frozen=True)
class Check:
    """One thing that could make an apply or a deployment fail, checked against the account.

    Attributes:
        name: what was checked, e.g. `quota L-DB2E81BA (Running On-Demand G and VT instances)`.
        detail: what was found (need against what is left), why it is unknown, or what to do.
    """

    cloud: Cloud
    name: str
    status: Status
    detail: str


def compare(
    cloud: Cloud,
    name: str,
    need: int,
    limit: float,
    used: float,
    unit: str,
    used_by: str = "used elsewhere",
    when: str = " at max capacity",
) -> Check:
    """`need` fits in what is left of `limit` once `used` is taken away.

    `used_by` says what `used` counts: on AWS everything but this environment; GCP and Azure
    report usage as a whole ("in use"), this environment's own VMs included once deployed.
    """
    left = max(0, int(limit - used))
    detail = f"needs {need} {unit}{when}; {left} of {int(limit)} left ({int(used)} {used_by})"
    if need <= left:
        return Check(cloud, name, "ok", detail)
    return Check(cloud, name, "fail", f"{detail}: request a quota increase, or lower capacity.max")
