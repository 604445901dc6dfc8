"""DescribeSecurityGroupRules returns the description of rules that reference another group."""

from __future__ import annotations

from tests.emulator.builders import Clients


def _rule_descriptions(clients: Clients, name: str) -> dict[str, str | None]:
    """Balancer -> engine on 80 both ways, as the fleet's stack does; descriptions by direction."""
    ec2 = clients("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.23.0.0/16")["Vpc"]["VpcId"]
    balancer = ec2.create_security_group(GroupName=f"{name}-lb", Description="lb", VpcId=vpc)["GroupId"]
    engine = ec2.create_security_group(GroupName=f"{name}-engine", Description="engine", VpcId=vpc)["GroupId"]
    port = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80}
    ingress = ec2.authorize_security_group_ingress(
        GroupId=engine,
        IpPermissions=[{**port, "UserIdGroupPairs": [{"GroupId": balancer, "Description": "from the lb"}]}],
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    egress = ec2.authorize_security_group_egress(
        GroupId=balancer,
        IpPermissions=[{**port, "UserIdGroupPairs": [{"GroupId": engine, "Description": "to the engines"}]}],
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    found = ec2.describe_security_group_rules(SecurityGroupRuleIds=[ingress, egress])["SecurityGroupRules"]
    return {("egress" if rule["IsEgress"] else "ingress"): rule.get("Description") for rule in found}


def test_referenced_group_rules_report_their_description(corrected: Clients, unique_name: str) -> None:
    assert _rule_descriptions(corrected, unique_name) == {
        "ingress": "from the lb",
        "egress": "to the engines",
    }


def test_cidr_rule_description_is_unchanged(corrected: Clients, unique_name: str) -> None:
    ec2 = corrected("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.24.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName=unique_name, Description="clients", VpcId=vpc)["GroupId"]
    rule = ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.24.0.0/16", "Description": "clients on 443"}],
            }
        ],
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    found = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule])["SecurityGroupRules"]
    assert [r.get("Description") for r in found] == ["clients on 443"]


def test_plain_moto_still_drops_referenced_group_rule_descriptions(plain: Clients, unique_name: str) -> None:
    assert _rule_descriptions(plain, unique_name) == {"ingress": None, "egress": None}, (
        "moto now reports them: remove describe_referenced_group_rules"
    )
