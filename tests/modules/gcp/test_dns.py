"""With clouds.gcp.dns_zone, the TLS hosts' A records (what the managed certificate waits for) are created
in that Cloud DNS zone; without it they are only in the `dns_records` output."""

from __future__ import annotations

from llmdeploy.clouds.gcp.resolve import resolve
from tests.fixtures_synth import Stack


def test_the_zone_gets_an_a_record_per_host_at_the_address(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    gcp = resolve(stack.plan)
    assert gcp.hosts and gcp.dns_zone == "llm-example-com"
    address = f"${{{stack.address('google_compute_global_address', 'LoadBalancer/Address')}.address}}"
    records = sorted(
        (entry["managed_zone"], entry["project"], entry["name"], entry["type"], tuple(entry["rrdatas"]))
        for entry in stack.resources("google_dns_record_set").values()
    )
    assert records == sorted(
        (gcp.dns_zone, gcp.project_id, f"{host}.", "A", (address,)) for host in gcp.hosts
    )
    # The output still lists them, for a zone hosted elsewhere too.
    output = stack.doc["output"]["dns_records"]["value"]
    assert sorted(record["name"] for record in output) == sorted(f"{host}." for host in gcp.hosts)


def test_without_a_zone_the_records_are_only_an_output(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["edge-gcp"]
    assert resolve(stack.plan).hosts
    assert stack.resources("google_dns_record_set") == {}
    assert stack.doc["output"]["dns_records"]["value"]
