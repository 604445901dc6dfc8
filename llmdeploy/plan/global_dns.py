"""The global DNS plan: which records answer the environment's name, with which health checks.

Every answer is a CNAME to a cloud's endpoint host, so that endpoints named by host (AWS load
balancers, Azure Front Door) and by IP address (GCP's global address) mix under one name: an
IP-addressed endpoint gets its own A record (`<cloud>.<name>.<zone>`) for the CNAME to point at.
Route 53 allows one PRIMARY and one SECONDARY record per name, so with three clouds the secondary
answer is a weighted set of the others under `<name>-secondary.<zone>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llmdeploy.catalog import Cloud
from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.config.global_dns import GlobalDns
from llmdeploy.plan.routes import route_prefix

#: How each cloud's stack addresses its endpoint (the host in its `endpoints` output).
ENDPOINT_ADDRESS: dict[Cloud, Literal["hostname", "ip"]] = {
    "aws": "hostname",  # the load balancer's DNS name
    "gcp": "ip",  # the global forwarding rule's address
    "azure": "hostname",  # the Front Door endpoint's host name
}
#: The cloud whose provider holds the DNS records (Route 53).
DNS_PROVIDER: Cloud = "aws"
_PORTS = {"HTTP": 80, "HTTPS": 443}
#: With three clouds, failover's secondary answer is a weighted set of the other two, named so.
_SECONDARY = "secondary"


@dataclass(frozen=True)
class DnsHealthPlan:
    """The Route 53 health checks of every cloud's endpoint: one per model, combined per cloud."""

    protocol: Literal["HTTP", "HTTPS"]
    port: int
    #: The engine's path, checked under each model's route.
    path: str
    interval_s: int
    failure_threshold: int
    models: tuple[str, ...]

    def model_path(self, model: str) -> str:
        """The path checked for one model; the load balancers answer GET on it without the API key."""
        return route_prefix(model) + self.path.removeprefix("/")

    @property
    def model_paths(self) -> tuple[str, ...]:
        return tuple(self.model_path(model) for model in self.models)


@dataclass(frozen=True)
class DnsEndpointPlan:
    """One cloud's endpoint: where its host comes from, and the name DNS answers point at."""

    cloud: Cloud
    stack: str
    address: Literal["hostname", "ip"]
    #: For an IP-addressed endpoint, the A record created for it; None when the host is a name.
    address_record: str | None


@dataclass(frozen=True)
class DnsRecordPlan:
    """One answer for `name`: a CNAME to a cloud's endpoint (health-checked) or to a nested set."""

    #: Unique within the plan and stable: `<cloud>`, `secondary`, or `secondary-<cloud>` in the nested set.
    key: str
    name: str
    set_identifier: str
    cloud: Cloud | None
    nested_name: str | None
    failover: Literal["PRIMARY", "SECONDARY"] | None
    weight: int | None


@dataclass(frozen=True)
class GlobalDnsPlan:
    """The `<env>-global` stack: health checks per cloud and the records of the global name."""

    stack: str
    zone: str
    fqdn: str
    routing: Literal["failover", "weighted"]
    ttl_s: int
    health: DnsHealthPlan
    endpoints: tuple[DnsEndpointPlan, ...]
    records: tuple[DnsRecordPlan, ...]

    @property
    def detection_s(self) -> int:
        """Seconds from an endpoint failing to Route 53 taking it out of its answers."""
        return self.health.interval_s * self.health.failure_threshold

    @property
    def failover_s(self) -> int:
        """Worst case from an endpoint failing to clients resolving another one.

        Detection (interval x failure threshold), then resolvers keep the old answer for one TTL.
        """
        return self.detection_s + self.ttl_s


def build_global_dns(config: EnvironmentConfig) -> GlobalDnsPlan | None:
    """The global DNS plan of an environment, or None when it has no `global_dns`; pure."""
    dns = config.global_dns
    if dns is None:
        return None
    clouds = config.clouds.names()
    fqdn = f"{dns.name}.{dns.zone}"
    protocol = dns.health_check.protocol or ("HTTPS" if config.access.tls.aws_certificate_arn else "HTTP")
    return GlobalDnsPlan(
        stack=f"{config.name}-global",
        zone=dns.zone,
        fqdn=fqdn,
        routing=dns.routing,
        ttl_s=dns.ttl_s,
        health=DnsHealthPlan(
            protocol=protocol,
            port=_PORTS[protocol],
            path=dns.health_check.path,
            interval_s=dns.health_check.interval_s,
            failure_threshold=dns.health_check.failure_threshold,
            models=tuple(model.name for model in config.models),
        ),
        endpoints=tuple(_endpoint(config.name, cloud, fqdn) for cloud in clouds),
        records=_records(dns, clouds, fqdn),
    )


def _endpoint(env: str, cloud: Cloud, fqdn: str) -> DnsEndpointPlan:
    address = ENDPOINT_ADDRESS[cloud]
    return DnsEndpointPlan(
        cloud=cloud,
        stack=f"{env}-{cloud}",
        address=address,
        address_record=f"{cloud}.{fqdn}" if address == "ip" else None,
    )


def _records(dns: GlobalDns, clouds: list[Cloud], fqdn: str) -> tuple[DnsRecordPlan, ...]:
    if dns.routing == "weighted":
        return _weighted(fqdn, clouds, dns.weights)
    primary = dns.primary or clouds[0]
    others = [cloud for cloud in clouds if cloud != primary]
    records = [DnsRecordPlan(primary, fqdn, primary, primary, None, "PRIMARY", None)]
    if len(others) == 1:
        records.append(DnsRecordPlan(others[0], fqdn, others[0], others[0], None, "SECONDARY", None))
    elif others:
        nested = fqdn.replace(".", f"-{_SECONDARY}.", 1)
        records.append(DnsRecordPlan(_SECONDARY, fqdn, _SECONDARY, None, nested, "SECONDARY", None))
        records += _weighted(nested, others, {}, key_prefix=f"{_SECONDARY}-")
    return tuple(records)


def _weighted(
    name: str, clouds: list[Cloud], weights: dict[Cloud, int], key_prefix: str = ""
) -> tuple[DnsRecordPlan, ...]:
    # Route 53 weights are relative: 1 each is an even split.
    return tuple(
        DnsRecordPlan(f"{key_prefix}{cloud}", name, cloud, cloud, None, None, weights.get(cloud, 1))
        for cloud in clouds
    )
