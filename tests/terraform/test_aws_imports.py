"""Orphans matched to the resources of a synthesized configuration: what the next apply imports.

The configuration is the shape synth writes (`resource.<type>.<name>` with the address tag on every
taggable resource); the state is the shape `terraform show -json` prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmdeploy.terraform.aws_imports import IMPORTS_FILE, adopt, write_imports
from llmdeploy.terraform.aws_orphans import ADDRESS_TAG, Orphan

TEMPLATE = "aws_launch_template.chat-blue_LaunchTemplate_E3C81D5A"
GROUP = "aws_autoscaling_group.chat-blue_Group_343B86F4"
CONFIGURATION: dict[str, Any] = {
    "resource": {
        "aws_launch_template": {
            "chat-blue_LaunchTemplate_E3C81D5A": {
                "name_prefix": "dev-chat-blue-",
                "tags": {ADDRESS_TAG: TEMPLATE},
            }
        },
        "aws_autoscaling_group": {"chat-blue_Group_343B86F4": {"name": "dev-chat-blue"}},
        "aws_kms_alias": {"EncryptionKey_Alias_9AFEB935": {"name": "alias/llmdeploy/dev"}},
        "aws_vpc": {"Network_Vpc_6D80AEB2": {"cidr_block": "10.0.0.0/16"}},
    }
}


def _state(*addresses: str) -> dict[str, Any]:
    resources = [{"address": address, "values": {}} for address in addresses]
    return {"values": {"root_module": {"resources": resources}}}


def test_orphans_are_matched_by_their_address_tag_or_their_name() -> None:
    template = Orphan("ec2:launch-template", "lt-0abc", "lt-0abc", address=TEMPLATE)
    group = Orphan("autoscaling:autoScalingGroup", "dev-chat-blue", "arn:aws:autoscaling:group/dev-chat-blue")
    alias = Orphan("kms:alias", "alias/llmdeploy/dev", "arn:aws:kms:alias/llmdeploy/dev")
    found = adopt([group, template, alias], CONFIGURATION, _state())
    assert [(address, orphan.id) for address, orphan in found.imports] == [
        (GROUP, "dev-chat-blue"),
        (TEMPLATE, "lt-0abc"),
        ("aws_kms_alias.EncryptionKey_Alias_9AFEB935", "alias/llmdeploy/dev"),
    ]
    assert found.unmatched == ()


def test_an_orphan_whose_resource_is_held_unknown_or_of_another_kind_is_not_imported() -> None:
    """Importing to an address the state holds fails the plan; a second copy of one resource, a tag
    naming a resource the configuration no longer has, or one of another type must be deleted instead."""
    first = Orphan("ec2:launch-template", "lt-1", "lt-1", address=TEMPLATE)
    second = Orphan("ec2:launch-template", "lt-2", "lt-2", address=TEMPLATE)
    gone = Orphan("ec2:launch-template", "lt-3", "lt-3", address="aws_launch_template.Removed_ABCD1234")
    lying = Orphan("ec2:vpc", "vpc-1", "vpc-1", address=TEMPLATE)
    unnamed = Orphan("ec2:vpc", "vpc-2", "vpc-2")  # no tag, and a VPC has no name to match by
    found = adopt([first, second, gone, lying, unnamed], CONFIGURATION, _state())
    assert [orphan.id for _, orphan in found.imports] == ["lt-1"]
    assert [orphan.id for orphan in found.unmatched] == ["lt-2", "lt-3", "vpc-1", "vpc-2"]
    held = adopt([first], CONFIGURATION, _state(TEMPLATE))
    assert held.imports == () and held.unmatched == (first,)


def test_the_import_file_is_terraform_json_with_ids_kept_literal(tmp_path: Path) -> None:
    template = Orphan("ec2:launch-template", "lt-${path.root}%{if}", "x", address=TEMPLATE)
    path = write_imports(tmp_path, adopt([template], CONFIGURATION, _state()))
    assert path == tmp_path / IMPORTS_FILE
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "import": [{"to": TEMPLATE, "id": "lt-$${path.root}%%{if}"}]
    }
