"""The endpoint's DNS records in the user's Cloud DNS managed zone (`clouds.gcp.dns_zone`).

The Google-managed certificate (`google_compute_managed_ssl_certificate`, modules/gcp/load_balancer.py)
is issued only once each of its domains resolves to the load balancer's address: that is its domain
validation, so no separate authorization record exists (Certificate Manager's DNS authorizations are
not used here). With a zone named, the stack creates one A record per TLS host in it; without one, the
records stay in the `dns_records` output for the user to create. Cloud DNS refuses a record whose name
is outside the zone's DNS name at apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdktn_provider_google.dns_record_set import DnsRecordSet
from constructs import Construct


class DnsRecords(Construct):
    """One record set per entry of the load balancer's `dns_records`, in `zone`.

    Each record's construct ID is its host name (without the trailing dot).
    """

    def __init__(
        self, scope: Construct, id: str, *, project: str, zone: str, records: Sequence[Mapping[str, Any]]
    ) -> None:
        super().__init__(scope, id)
        for record in records:
            DnsRecordSet(
                self,
                str(record["name"]).removesuffix("."),
                project=project,
                managed_zone=zone,
                name=record["name"],
                type=record["type"],
                ttl=record["ttl"],
                rrdatas=list(record["rrdatas"]),
            )
