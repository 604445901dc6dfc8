"""GCP's naming rules: the names of every resource the GCP stack creates and `status` reads back.

GCP has no resource groups, so per-fleet names carry the project and the environment (two llmdeploy
projects with the same environment and model names may share one GCP project). Every name fits its
limit: longer combinations are cut and end in a hash of the full name (`short_name`), so a long model
name still fits and differs from a similar one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from llmdeploy.clouds.naming import HASH_CHARS, digest, short_name

#: GCP resource names: at most 63 characters (RFC 1035 labels).
NAME_LIMIT = 63
#: A managed group's name is also its VMs' base instance name, which the API caps at 58.
GROUP_NAME_LIMIT = 58
#: A service account id is 6-30 characters; an instance template name prefix at most 37.
ACCOUNT_ID_LIMIT = 30
TEMPLATE_PREFIX_LIMIT = 37
#: GCP label keys and values: lower-case letters, digits, `_` and `-`; at most 63 characters
#: (cloud.google.com/compute/docs/labeling-resources#requirements).
LABEL_INVALID = re.compile(r"[^a-z0-9_-]")
LABEL_LIMIT = 63
#: Roles of a fleet's groups, the part of their names after the fleet's: the first autoscaled
#: group, the autoscaled on-demand share above the base next to it, the fixed on-demand base.
AUTOSCALED = ""
ON_DEMAND_SHARE = "od"
BASE = "base"
#: The registries the engine and proxy images come from (llmdeploy/engines.py, boot/context.py), and
#: the suffix of the Artifact Registry remote repository that caches each.
REGISTRY_UPSTREAMS = {"docker.io": "docker-hub", "ghcr.io": "ghcr"}
#: Docker Hub has a preset upstream in Artifact Registry; any other registry is a custom upstream URL.
DOCKER_HUB = "docker.io"
#: The router group's part of its resources' names (`<project>-<env>-router...`). A fleet's names carry
#: `<model>-<slot>`, so no fleet's name equals a router's.
ROUTER = "router"
#: Custom role ids: letters, digits, `_` and `.`, 3-64 characters (hashicorp/terraform-provider-google
#: google/verify/validation.go IAMCustomRoleIDRegex: `[a-zA-Z0-9_.]`, 3 to 64).
ROLE_ID_LIMIT = 64


def fleet_name(project: str, env: str, fleet: str) -> str:
    """`<project>-<env>-<model>-<slot>`: the fleet's backend service and health check."""
    return short_name(project, env, fleet, limit=NAME_LIMIT)


def group_name(project: str, env: str, fleet: str, role: str, *, region: str, zones: Iterable[str]) -> str:
    """A managed instance group's name, ending in a hash of its region and zones.

    Both are ForceNew: a new zone list needs a new group next to the old one (create before destroy),
    whose name must differ (hashicorp/terraform-provider-google#6376).
    """
    placement = ",".join([region, *sorted(zones)])
    head = short_name(project, env, fleet, role, limit=GROUP_NAME_LIMIT - HASH_CHARS - 1)
    return f"{head}-{digest(placement)}"


def service_account_id(project: str, env: str, model: str, slot: str) -> str:
    """The fleet's service account id (at most 30 characters)."""
    return short_name(project, env, model, slot, limit=ACCOUNT_ID_LIMIT)


def router_group_name(project: str, env: str, *, region: str, zones: Iterable[str]) -> str:
    """The router group's managed instance group (a fleet group's rule: its zones are ForceNew too)."""
    return group_name(project, env, ROUTER, AUTOSCALED, region=region, zones=zones)


def router_account_id(project: str, env: str) -> str:
    """The routers' service account id (at most 30 characters)."""
    return short_name(project, env, ROUTER, limit=ACCOUNT_ID_LIMIT)


def router_role_id(project: str, env: str) -> str:
    """The routers' custom role: per project and environment, as several may share one GCP project."""
    return short_name("llmdeploy", project, env, ROUTER, limit=ROLE_ID_LIMIT).replace("-", "_")


def template_prefix(project: str, env: str, fleet: str, kind: str) -> str:
    """An instance template's name prefix (Terraform appends a unique suffix)."""
    return short_name(project, env, fleet, kind, limit=TEMPLATE_PREFIX_LIMIT - 1) + "-"


def registry_mirror(prefix: str, upstream: str) -> str:
    """The Artifact Registry remote repository caching `upstream` (a key of REGISTRY_UPSTREAMS)."""
    return f"{prefix}-{REGISTRY_UPSTREAMS[upstream]}"


def certificate(prefix: str, domains: Iterable[str]) -> str:
    """The managed certificate for `domains`: a new name per domain list (its domains are ForceNew)."""
    return f"{prefix}-{digest(','.join(sorted(domains)))}"


def labels(tags: Mapping[str, str]) -> dict[str, str]:
    """`tags` as GCP labels (lower-cased, other characters replaced by `_`, cut at 63)."""
    return {_label(key): _label(value) for key, value in tags.items()}


def _label(text: str) -> str:
    return LABEL_INVALID.sub("_", text.lower())[:LABEL_LIMIT]
