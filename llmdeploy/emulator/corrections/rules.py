"""Corrections to moto's EC2 security group rules."""

from __future__ import annotations

from moto.ec2.models.security_groups import SecurityGroupRule


def describe_referenced_group_rules() -> None:
    """DescribeSecurityGroupRules returns the Description of a rule that references a group.

    AWS API reference, SecurityGroupRule data type: Description is the rule's
    description, whatever the rule's source (CIDR, prefix list or referenced group);
    AuthorizeSecurityGroupIngress/Egress take it from UserIdGroupPairs[].Description
    for a referenced group. moto stores it there but reads it only from the CIDR
    range, so `aws_vpc_security_group_ingress_rule` and `..._egress_rule` with a
    `referenced_security_group_id` plan `description null -> "..."` on every run.
    (DescribeSecurityGroups, which lists the pairs themselves, is already right.)
    """
    from_range = SecurityGroupRule.description

    def description(self: SecurityGroupRule) -> str | None:
        found = from_range.__get__(self, SecurityGroupRule)
        return found if found is not None else self.source_group.get("Description")

    SecurityGroupRule.description = property(description)  # type: ignore[method-assign,assignment]
