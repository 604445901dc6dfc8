"""GCP preflight: GPU quotas (google-cloud-compute, REST) and secrets (Secret Manager REST API).

GPU quotas count GPUs: regional `NVIDIA_<GPU>_GPUS` for standard VMs and `PREEMPTIBLE_NVIDIA_<GPU>_GPUS`
for Spot VMs (`regions.get`), and the project-wide `GPUS_ALL_REGIONS` (`projects.get`). Spot VMs use
preemptible quota when the region grants some, else the standard quota ("To prevent Spot VMs from
consuming your quotas for standard VMs' CPUs, GPUs, and disks, consider requesting preemptible quota",
https://cloud.google.com/compute/docs/instances/create-use-spot). GPUS_ALL_REGIONS is compared with
every GPU of the environment (conservative: whether it counts Spot GPUs is not documented there).
GCP reports usage project-wide, this environment's own VMs included once it is deployed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from google.api_core import exceptions as google_errors
from google.auth.exceptions import GoogleAuthError
from google.cloud import compute_v1

from llmdeploy.catalog import InstanceType
from llmdeploy.config.clouds import GcpCloud
from llmdeploy.doctor.model import Check, compare
from llmdeploy.doctor.needs import Need, capacity_needs, gpus, secrets_on
from llmdeploy.doctor.secrets import SecretMissing, SecretUnreadable, judge
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan

#: The catalog's GPU names -> Compute Engine's quota metric for standard VMs.
GPU_METRICS = {
    "L4": "NVIDIA_L4_GPUS",
    "A100-40GB": "NVIDIA_A100_GPUS",
    "A100-80GB": "NVIDIA_A100_80GB_GPUS",
    "H100-80GB": "NVIDIA_H100_GPUS",
}
ALL_REGIONS = "GPUS_ALL_REGIONS"
SECRET_MANAGER_URL = "https://secretmanager.googleapis.com"
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
_HINT = "check the credentials (gcloud auth application-default login) and their access to the project"


def preemptible(metric: str) -> str:
    return f"PREEMPTIBLE_{metric}"


def _metric_of(kind: InstanceType) -> str | None:
    return GPU_METRICS.get(kind.gpu)


@dataclass(frozen=True)
class GcpAccount:
    """Compute Engine clients and an authorized HTTP session for Secret Manager."""

    regions: compute_v1.RegionsClient
    projects: compute_v1.ProjectsClient
    session: Any
    secret_manager_url: str

    @classmethod
    def connect(cls, secret_manager_url: str = SECRET_MANAGER_URL, **options: Any) -> GcpAccount:
        """`options` (credentials, client_options) go to the Compute clients; Application Default
        Credentials without them.

        Raises:
            OperationError: no credentials could be found.
        """
        from google.auth import default
        from google.auth.transport.requests import AuthorizedSession

        settings = {"transport": "rest", **options}
        try:
            credentials = options.get("credentials") or default(scopes=_SCOPES)[0]
        except GoogleAuthError as error:
            raise OperationError(
                f"Cannot sign in to GCP: {str(error).rstrip('.')}. {_HINT.capitalize()}."
            ) from None
        return cls(
            regions=compute_v1.RegionsClient(**settings),
            projects=compute_v1.ProjectsClient(**settings),
            session=AuthorizedSession(credentials),  # type: ignore[no-untyped-call]
            secret_manager_url=secret_manager_url,
        )


def checks(plan: DeploymentPlan, account: GcpAccount) -> list[Check]:
    """Every GCP check of the environment, in a fixed order."""
    settings = plan.settings("gcp")
    needs = capacity_needs(plan.fleets_on("gcp"), _metric_of, gpus)
    found = _quota_checks(account, settings, needs)
    return found + [
        judge("gcp", use, partial(read_secret, account, settings.project_id, use.name))
        for use in secrets_on(plan, "gcp")
    ]


def _quota_checks(account: GcpAccount, settings: GcpCloud, needs: Mapping[str, Need]) -> list[Check]:
    if not needs:
        return []
    project, region = settings.project_id, settings.region
    try:
        regional = _limits(account.regions.get(project=project, region=region).quotas)
        global_ = _limits(account.projects.get(project=project).quotas)
    except (google_errors.GoogleAPIError, GoogleAuthError, OSError) as error:
        reason = f"could not read the quotas of project {project}: {error}; {_HINT}"
        return [Check("gcp", f"GPU quotas in {region}", "unknown", reason)]
    found = [check for metric, need in needs.items() for check in _gpu(regional, region, metric, need)]
    total = sum(need.total for need in needs.values())
    return [*found, _compare(global_, f"quota {ALL_REGIONS} (project {project})", ALL_REGIONS, total)]


def _gpu(limits: Mapping[str, tuple[float, float]], region: str, metric: str, need: Need) -> list[Check]:
    spot_metric = preemptible(metric)
    spot_limit = limits.get(spot_metric, (0.0, 0.0))[0]
    if spot_limit <= 0:
        # No preemptible quota: Spot VMs count against the standard quota.
        return [_compare(limits, f"quota {metric} in {region} (standard and Spot VMs)", metric, need.total)]
    found = (
        [_compare(limits, f"quota {metric} in {region}", metric, need.on_demand)] if need.on_demand else []
    )
    return [*found, _compare(limits, f"quota {spot_metric} in {region}", spot_metric, need.spot)]


def _compare(limits: Mapping[str, tuple[float, float]], title: str, metric: str, need: int) -> Check:
    if metric not in limits:
        return Check("gcp", title, "unknown", f"the project lists no {metric} quota")
    limit, usage = limits[metric]
    return compare("gcp", title, need, limit, usage, "GPUs", used_by="in use")


def _limits(quotas: Any) -> dict[str, tuple[float, float]]:
    return {quota.metric: (quota.limit, quota.usage) for quota in quotas}


def read_secret(account: GcpAccount, project: str, name: str) -> str:
    """The latest version of a Secret Manager secret, as text.

    Raises:
        SecretMissing: no such secret, or no enabled version.
        SecretUnreadable: access refused, or no answer.
    """
    url = f"{account.secret_manager_url}/v1/projects/{project}/secrets/{name}/versions/latest:access"
    try:
        answer = account.session.get(url, timeout=30)
    except (GoogleAuthError, OSError) as error:
        raise SecretUnreadable(f"could not ask Secret Manager: {error}; {_HINT}") from None
    if answer.status_code == 404:
        raise SecretMissing(
            f"Secret Manager in project {project} has no secret {name} with an enabled version"
        )
    if answer.status_code != 200:
        raise SecretUnreadable(
            f"Secret Manager answered HTTP {answer.status_code} for secret {name} "
            "(grant roles/secretmanager.secretAccessor to these credentials)"
        )
    try:
        return base64.b64decode(json.loads(answer.content)["payload"]["data"]).decode("utf-8")
    except (ValueError, KeyError, TypeError) as error:
        raise SecretUnreadable(
            f"Secret Manager's answer for {name} has no readable payload ({error})"
        ) from None
