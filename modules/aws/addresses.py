"""Every taggable resource of a stack carries its own Terraform address as a tag.

A run killed mid-apply leaves resources that AWS created and Terraform never recorded; this tag says
which resource of the configuration each one is, so the next apply adopts it (a Terraform `import`
block, shown in the plan) instead of creating it again (llmdeploy/terraform/aws_imports.py).
Resources without a `tags` argument (Auto Scaling groups take `tag` blocks, KMS aliases and cache
rules take none) are matched by their names instead.
"""

from __future__ import annotations

from cdktn import TerraformResource, TerraformStack

from llmdeploy.terraform.aws_orphans import ADDRESS_TAG


def tag_addresses(stack: TerraformStack) -> None:
    """Add the address tag to every resource of `stack` that has a `tags` argument (call it last)."""
    for node in stack.node.find_all():
        if isinstance(node, TerraformResource) and hasattr(node, "tags_input"):
            address = f"{node.terraform_resource_type}.{node.friendly_unique_id}"
            node.tags = {**(node.tags_input or {}), ADDRESS_TAG: address}  # type: ignore[attr-defined]
