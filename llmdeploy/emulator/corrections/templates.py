"""Corrections to moto's EC2 launch templates."""

from __future__ import annotations

import functools
from typing import Any

from moto.ec2.models.launch_templates import LaunchTemplateBackend


def keep_template_tags_out_of_data() -> None:
    """CreateLaunchTemplate's own `launch-template` tags stay out of LaunchTemplateData.

    AWS API reference, CreateLaunchTemplate: TagSpecifications tags the launch template
    itself (resource type `launch-template`); LaunchTemplateData.TagSpecifications is a
    separate field for resources created at launch, and `launch-template` is not a valid
    resource type there. moto's handler copies the template's tags into the data, so
    the provider reads a `tag_specifications` block nobody wrote on every launch
    template with `tags`, and plans to remove it on every run.
    """
    original = LaunchTemplateBackend.create_launch_template

    @functools.wraps(original)
    def create_launch_template(
        self: LaunchTemplateBackend,
        name: str,
        description: str,
        template_data: dict[str, Any],
        tag_spec: dict[str, Any],
    ) -> Any:
        specs = template_data.get("TagSpecifications")
        if isinstance(specs, list):
            kept = [s for s in specs if s.get("ResourceType") != "launch-template"]
            if kept:
                template_data["TagSpecifications"] = kept
            else:
                del template_data["TagSpecifications"]
        return original(self, name, description, template_data, tag_spec)

    LaunchTemplateBackend.create_launch_template = create_launch_template  # type: ignore[method-assign]
