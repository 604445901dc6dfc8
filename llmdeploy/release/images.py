"""The resources that pin a slot's machine image, which `release --new-image` replaces.

A slot's launch template (AWS) or instance templates (GCP) read the newest GPU image only when they
are created and ignore it afterwards, so a new image never slips into a running slot. Replacing the
idle slot's templates is how a new image gets in on purpose: the slot's instances roll onto it (an
instance refresh on AWS, the group's update on GCP) while it takes no traffic, and `promote` then
moves traffic to it through the usual gates. Azure's scale sets name the HPC image's `latest`
version, so every VM they create takes the newest image and nothing needs replacing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmdeploy.catalog import Cloud

#: The Terraform resource type that pins the image, by cloud.
PINNED_BY: dict[Cloud, str] = {"aws": "aws_launch_template", "gcp": "google_compute_instance_template"}


def image_pins(document: Mapping[str, Any], stack: str, fleet: str, cloud: Cloud) -> list[str]:
    """Addresses (`<type>.<name>`) of the resources pinning `fleet`'s image in a synthesized stack."""
    kind = PINNED_BY.get(cloud)
    if kind is None:
        return []
    resources: Mapping[str, Any] = document.get("resource", {}).get(kind, {})
    # Each fleet's constructs live under `<stack>/<fleet>/` (construct paths are the contract).
    prefix = f"{stack}/{fleet}/"
    return sorted(
        f"{kind}.{name}"
        for name, resource in resources.items()
        if str(resource.get("//", {}).get("metadata", {}).get("path", "")).startswith(prefix)
    )
