"""Every Azure resource Resource Graph can find carries its own Terraform address as a tag, within
Azure's tag rules; every other type the stacks create is listed as untracked, with its reason.

Which types take `tags` is read from the azurerm bindings (generated from the provider's schema):
a type listed as tracked without a `tags` argument would fail `terraform validate`.
"""

from __future__ import annotations

import importlib
import re

import pytest

from llmdeploy.terraform.azure_orphans import (
    ADDRESS_TAG,
    DELETION_ORDER,
    MAX_TAG_VALUE,
    MAX_TAGS,
    RESOURCE_TYPES,
    UNTRACKED,
)
from tests.fixtures_synth import Stack

pytestmark = pytest.mark.synth

#: Azure: tag names may not hold these, nor (Front Door) `:` or `#`; 512 characters a name at most.
FORBIDDEN = re.compile(r"[<>%&\\?/:#]")


def _takes_tags(kind: str) -> bool:
    """Whether azurerm's schema gives `kind` a `tags` argument (the binding then has `tags_input`)."""
    module = importlib.import_module(f"cdktn_provider_azurerm.{kind.removeprefix('azurerm_')}")
    (binding,) = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and getattr(value, "TF_RESOURCE_TYPE", None) == kind
    ]
    return hasattr(binding, "tags_input")


def test_every_trackable_resource_carries_its_address_within_azures_tag_limits(
    azure_stacks: dict[str, Stack],
) -> None:
    tagged = 0
    for stack in azure_stacks.values():
        for kind in RESOURCE_TYPES:
            for name, body in stack.resources(kind).items():
                tags = body["tags"]
                assert tags[ADDRESS_TAG] == f"{kind}.{name}", f"{stack.name}: {kind}.{name}"
                assert len(tags) <= MAX_TAGS
                assert all(len(key) <= 512 and not FORBIDDEN.search(key) for key in tags), tags
                assert all(len(value) <= MAX_TAG_VALUE for value in tags.values()), tags
                tagged += 1
    assert tagged > 40  # the example stacks create dozens


def test_every_azurerm_type_the_stacks_create_is_tracked_or_says_why_not(
    azure_stacks: dict[str, Stack],
) -> None:
    created = {
        kind
        for stack in azure_stacks.values()
        for kind in stack.doc["resource"]
        if kind.startswith("azurerm_")
    }
    assert created <= set(RESOURCE_TYPES) | set(UNTRACKED), created - set(RESOURCE_TYPES) - set(UNTRACKED)
    for stack in azure_stacks.values():
        for kind in UNTRACKED:
            assert all(ADDRESS_TAG not in (body.get("tags") or {}) for body in stack.resources(kind).values())


def test_tracked_types_take_tags_and_have_a_deletion_rank_untracked_ones_mostly_do_not() -> None:
    assert all(_takes_tags(kind) for kind in RESOURCE_TYPES)
    assert set(RESOURCE_TYPES.values()) == {kind.name for kind in DELETION_ORDER}
    # Only DNS record sets take `tags` yet stay untracked (metadata names, no Resource Graph index).
    assert {kind for kind in UNTRACKED if _takes_tags(kind)} == {
        "azurerm_dns_txt_record",
        "azurerm_dns_cname_record",
    }
    assert all(UNTRACKED.values())
