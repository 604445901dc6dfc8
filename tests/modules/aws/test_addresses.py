"""Every taggable AWS resource names its own Terraform address in a tag, which is how the next apply
adopts (imports) what a killed apply created (llmdeploy/terraform/aws_imports.py)."""

from __future__ import annotations

from llmdeploy.terraform.aws_imports import adopt
from llmdeploy.terraform.aws_orphans import ADDRESS_TAG, Orphan
from tests.fixtures_synth import Stack


def test_each_tagged_resource_names_its_own_address_and_adopt_finds_it(aws_stacks: dict[str, Stack]) -> None:
    for stack in aws_stacks.values():
        tagged = 0
        for kind, resources in stack.doc["resource"].items():
            for name, body in resources.items():
                if "tags" in body:
                    assert body["tags"][ADDRESS_TAG] == f"{kind}.{name}", (stack.name, kind, name)
                    tagged += 1
        assert tagged >= 20, stack.name  # VPC, subnets, groups, rules, templates, balancers, alarms...
        for name in stack.resources("aws_launch_template"):
            address = f"aws_launch_template.{name}"
            orphan = Orphan("ec2:launch-template", "lt-1", "lt-1", address=address)
            assert adopt([orphan], stack.doc, {}).imports == ((address, orphan),)
