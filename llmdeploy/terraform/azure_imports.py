"""Adopt what a killed apply left outside the state on Azure: the matcher for aws_imports.adopt.

An Azure orphan is matched by its address tag alone (modules/azure/addresses.py): every type the
stack can find takes tags, and the tag names the resource it was created for. Its `id` is already
the ARM ID azurerm's import takes, spelled as azurerm parses it (azure_orphans.import_id). A name
in the configuration that is a literal must also be the orphan's: a tag copied onto another
resource (by hand, or by a portal "clone") must not import the wrong one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmdeploy.synth import STACK_FILE
from llmdeploy.terraform import TerraformRunner
from llmdeploy.terraform.aws_imports import Adoption, adopt, read_configuration
from llmdeploy.terraform.aws_orphans import Orphan
from llmdeploy.terraform.azure_orphans import RESOURCE_TYPES, Arm, find_orphans


def address_of(orphan: Orphan, resources: Mapping[str, Any]) -> str | None:
    """The address `orphan`'s tag names, when the configuration has it with the orphan's type and name."""
    kind, _, name = orphan.address.partition(".")
    body = (resources.get(kind) or {}).get(name)
    if RESOURCE_TYPES.get(kind) != orphan.kind or not isinstance(body, dict):
        return None
    given = body.get("name")
    if isinstance(given, str) and "${" not in given and given.lower() != orphan.id.rsplit("/", 1)[-1].lower():
        return None  # a literal name that is not the orphan's
    return orphan.address


def azure_adoption(runner: TerraformRunner, arm: Arm, tags: Mapping[str, str]) -> Adoption:
    """The stack's orphans, matched to the resources of its synthesized configuration they belong to.

    The subscription and the resource group are the configuration's own (its provider block and its
    one resource group), so what is looked at is exactly where the stack creates.
    """
    configuration = read_configuration(runner.stack_dir, STACK_FILE)
    subscription, resource_group = _scope(configuration)
    state = runner.state_document()
    orphans = find_orphans(arm, subscription, resource_group, tags, state)
    return adopt(orphans, configuration, state, address_of) if orphans else Adoption((), ())


def _scope(configuration: Mapping[str, Any]) -> tuple[str, str]:
    """The subscription and resource group of a synthesized Azure stack (stacks/azure.py writes both)."""
    (provider,) = configuration["provider"]["azurerm"]
    (group,) = configuration["resource"]["azurerm_resource_group"].values()
    return str(provider["subscription_id"]), str(group["name"])
