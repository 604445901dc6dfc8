"""Every Azure resource of a stack that Resource Graph can find carries its Terraform address as a tag.

A run killed mid-apply leaves resources that Azure created and Terraform never recorded; this tag
says which resource of the configuration each one is, so the next apply adopts it (a Terraform
`import` block, shown in the plan) instead of failing on "already exists"
(llmdeploy/terraform/azure_imports.py). The types tagged are azure_orphans.RESOURCE_TYPES; the
others the stack creates, and why they carry none, are azure_orphans.UNTRACKED.
"""

from __future__ import annotations

from cdktn import TerraformResource, TerraformStack

from llmdeploy.terraform.azure_orphans import ADDRESS_TAG, MAX_TAG_VALUE, RESOURCE_TYPES


def tag_addresses(stack: TerraformStack) -> None:
    """Add the address tag to every resource of `stack` of a tracked type (call it last).

    Raises:
        ValueError: an address longer than an Azure tag value may be (a construct ID grew).
    """
    for node in stack.node.find_all():
        if isinstance(node, TerraformResource) and node.terraform_resource_type in RESOURCE_TYPES:
            address = f"{node.terraform_resource_type}.{node.friendly_unique_id}"
            if len(address) > MAX_TAG_VALUE:
                raise ValueError(f"{address} is longer than an Azure tag value may be ({MAX_TAG_VALUE})")
            node.tags = {**(node.tags_input or {}), ADDRESS_TAG: address}  # type: ignore[attr-defined]
