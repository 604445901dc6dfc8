"""Front Door custom domains' records in the user's Azure DNS zone (`clouds.azure.dns_zone`).

A custom domain is validated by a `_dnsauth.<host>` TXT record holding its `validation_token`, and
serves once its host is a CNAME of the Front Door endpoint (azurerm docs, cdn_frontdoor_custom_domain;
Front Door docs, "Add a custom domain"). With a zone named, the stack creates both records per host
in it (names relative to the zone, as azurerm_dns_*_record take them); without one they stay in the
`dns_records` output. The config keeps every host strictly inside the zone: a CNAME cannot sit at
a zone's apex.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktn_provider_azurerm.dns_cname_record import DnsCnameRecord
from cdktn_provider_azurerm.dns_txt_record import DnsTxtRecord, DnsTxtRecordRecord
from constructs import Construct

#: Seconds resolvers keep the records (the Front Door docs' examples use an hour).
TTL_S = 3600


class DnsRecords(Construct):
    """Per custom domain host: its validation TXT record and its CNAME to Front Door."""

    _TXT_SUFFIX = "-Validation"
    _CNAME_SUFFIX = "-Cname"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        zone: str,
        resource_group: str,
        records: Mapping[str, Mapping[str, str]],
    ) -> None:
        super().__init__(scope, id)
        for host, record in records.items():
            DnsTxtRecord(
                self,
                f"{host}{self._TXT_SUFFIX}",
                name=relative(record["txt_name"], zone),
                zone_name=zone,
                resource_group_name=resource_group,
                ttl=TTL_S,
                record=[DnsTxtRecordRecord(value=record["txt_value"])],
            )
            DnsCnameRecord(
                self,
                f"{host}{self._CNAME_SUFFIX}",
                name=relative(record["cname_name"], zone),
                zone_name=zone,
                resource_group_name=resource_group,
                ttl=TTL_S,
                record=record["cname_value"],
            )


def relative(name: str, zone: str) -> str:
    """`name` relative to `zone` (api.llm.example.com in example.com: api.llm)."""
    assert name.endswith(f".{zone}"), f"{name} is not inside {zone}"
    return name.removesuffix(f".{zone}")
