"""The GCP network: custom-mode VPC, a private subnet with flow logs, Cloud NAT on a reserved address."""

from __future__ import annotations

from tests.fixtures_synth import Stack


def test_vpc_has_only_the_subnet_we_create(gcp_stacks: dict[str, Stack]) -> None:
    network = gcp_stacks["prod-gcp"].at("google_compute_network", "Network/Network")
    assert network["auto_create_subnetworks"] is False
    assert network["name"] == "llmdeploy-demo-prod"


def test_subnet_is_private_with_flow_logs(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    subnet = stack.at("google_compute_subnetwork", "Network/Subnet")
    assert subnet["ip_cidr_range"] == "10.50.0.0/20"
    assert subnet["region"] == "us-central1"
    assert subnet["private_ip_google_access"] is True
    assert subnet["log_config"]["metadata"] == "INCLUDE_ALL_METADATA"
    # A sample of the flows, not every one (each LLM stream is a long-lived flow; review #20).
    assert 0 < subnet["log_config"]["flow_sampling"] < 1
    assert subnet["network"] == f"${{{stack.address('google_compute_network', 'Network/Network')}.id}}"


def test_cloud_nat_uses_the_reserved_address_for_the_subnet_only(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    nat = stack.at("google_compute_router_nat", "Network/Nat")
    address = stack.address("google_compute_address", "Network/NatAddress")
    assert nat["nat_ip_allocate_option"] == "MANUAL_ONLY"
    assert nat["nat_ips"] == [f"${{{address}.self_link}}"]
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "LIST_OF_SUBNETWORKS"
    subnet = stack.address("google_compute_subnetwork", "Network/Subnet")
    assert nat["subnetwork"] == [{"name": f"${{{subnet}.id}}", "source_ip_ranges_to_nat": ["ALL_IP_RANGES"]}]
    assert nat["router"] == f"${{{stack.address('google_compute_router', 'Network/Router')}.name}}"


def test_instances_get_no_external_address(gcp_stacks: dict[str, Stack]) -> None:
    for stack in gcp_stacks.values():
        for template in stack.resources("google_compute_instance_template").values():
            [interface] = template["network_interface"]
            assert "access_config" not in interface
            assert interface["subnetwork"].endswith(".id}")
