"""The VPC: subnets per zone, NAT per zone, flow logs, a default security group that admits nothing."""

from __future__ import annotations

from tests.fixtures_synth import Stack


def test_public_and_private_subnet_in_every_zone(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["prod-aws"]
    vpc = stack.at("aws_vpc", "Network/Vpc/Vpc")
    assert vpc["cidr_block"] == "10.40.0.0/16"
    zones = stack.plan.cloud("aws").settings.zones
    for zone in zones:
        for kind in ("PublicSubnet", "PrivateSubnet"):
            subnet = stack.at("aws_subnet", f"{zone}/{kind}")
            assert subnet["availability_zone"] == zone
            assert subnet["map_public_ip_on_launch"] is False
    assert len(stack.resources("aws_subnet")) == 2 * len(zones)


def test_private_subnets_go_out_through_their_zones_nat(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["dev-aws"]
    for zone in ("us-east-1a", "us-east-1b"):
        nat = stack.address("aws_nat_gateway", f"{zone}/NatGateway")
        route = stack.at("aws_route", f"{zone}/PrivateDefaultRoute")
        assert (route["destination_cidr_block"], route["nat_gateway_id"]) == ("0.0.0.0/0", f"${{{nat}.id}}")
        public = stack.address("aws_subnet", f"{zone}/PublicSubnet")
        assert stack.at("aws_nat_gateway", f"{zone}/NatGateway")["subnet_id"] == f"${{{public}.id}}"


def test_flow_logs_are_kept_encrypted(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["dev-aws"]
    flow = stack.at("aws_flow_log", "FlowLogs/FlowLog")
    group = stack.address("aws_cloudwatch_log_group", "FlowLogs/LogGroup")
    assert (flow["traffic_type"], flow["log_destination"]) == ("ALL", f"${{{group}.arn}}")
    log_group = stack.at("aws_cloudwatch_log_group", "FlowLogs/LogGroup")
    key = stack.address("aws_kms_key", "EncryptionKey/Key")
    assert log_group["kms_key_id"] == f"${{{key}.arn}}"
    assert log_group["retention_in_days"] >= 365


def test_flow_logs_aggregate_over_ten_minutes_not_one(aws_stacks: dict[str, Stack]) -> None:
    """Every flow record is ingested and billed: the provider allows 60 or 600 s; 600 writes a tenth."""
    assert aws_stacks["dev-aws"].at("aws_flow_log", "FlowLogs/FlowLog")["max_aggregation_interval"] == 600


def test_default_security_group_admits_nothing(aws_stacks: dict[str, Stack]) -> None:
    group = aws_stacks["dev-aws"].at("aws_default_security_group", "Network/Vpc/DefaultSecurityGroup")
    assert "ingress" not in group and "egress" not in group


def test_existing_vpc_is_read_not_created(aws_stacks: dict[str, Stack]) -> None:
    stack = aws_stacks["edge-aws"]
    for kind in ("aws_vpc", "aws_subnet", "aws_nat_gateway", "aws_flow_log"):
        assert not stack.resources(kind), kind
    [vpc] = stack.data("aws_vpc").values()
    assert vpc["id"] == "vpc-0abc1234"
