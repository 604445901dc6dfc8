"""Route 53 in front of every cloud's endpoint: a health check per cloud, failover or weighted records.

Translates a `GlobalDnsPlan`: per cloud endpoint, one HTTP(S) check per model (`GET /<model>/health`,
which the load balancers answer without the API key) combined by a calculated check that is healthy
only while every model is; an A record for an endpoint addressed by IP; the CNAME answers of the
global name, each tied to its cloud's combined check, so a cloud that cannot serve every model
stops being answered. The hosted zone exists already and is looked up by name.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktn_provider_aws.data_aws_route53_zone import DataAwsRoute53Zone
from cdktn_provider_aws.route53_health_check import Route53HealthCheck
from cdktn_provider_aws.route53_record import (
    Route53Record,
    Route53RecordFailoverRoutingPolicy,
    Route53RecordWeightedRoutingPolicy,
)
from constructs import Construct

from llmdeploy.catalog import Cloud
from llmdeploy.plan.global_dns import DnsEndpointPlan, DnsRecordPlan, GlobalDnsPlan
from modules.common import skip_checks

_ADDRESS_RECORD_REASONS = {
    "CKV2_AWS_23": "points at another cloud's load balancer address, which is no AWS resource",
}


class GlobalDns(Construct):
    """The global name's records and the health checks that decide which clouds answer.

    Attributes:
        health_check_ids: by cloud.
    """

    _ZONE_ID = "Zone"
    _ENDPOINTS_ID = "Endpoints"
    _ANSWERS_ID = "Answers"

    def __init__(self, scope: Construct, id: str, *, plan: GlobalDnsPlan, hosts: Mapping[Cloud, str]) -> None:
        super().__init__(scope, id)
        zone = DataAwsRoute53Zone(self, self._ZONE_ID, name=plan.zone, private_zone=False)
        endpoints_scope = Construct(self, self._ENDPOINTS_ID)
        answers_scope = Construct(self, self._ANSWERS_ID)
        endpoints = {
            endpoint.cloud: _Endpoint(
                endpoints_scope,
                endpoint.cloud,
                plan=plan,
                endpoint=endpoint,
                host=hosts[endpoint.cloud],
                zone_id=zone.zone_id,
            )
            for endpoint in plan.endpoints
        }
        for record in plan.records:
            _Answer(
                answers_scope, record.key, plan=plan, record=record, endpoints=endpoints, zone_id=zone.zone_id
            )
        self.health_check_ids = {cloud: endpoint.health_check_id for cloud, endpoint in endpoints.items()}


class _Endpoint(Construct):
    """One cloud's endpoint: its health checks, and its A record when it is addressed by IP."""

    _HEALTH_CHECK_ID = "HealthCheck"
    _MODELS_ID = "Models"
    _ADDRESS_ID = "Address"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: GlobalDnsPlan,
        endpoint: DnsEndpointPlan,
        host: str,
        zone_id: str,
    ) -> None:
        super().__init__(scope, id)
        by_ip = endpoint.address_record is not None
        health = plan.health
        models = Construct(self, self._MODELS_ID)
        children = [
            Route53HealthCheck(
                models,
                model,
                type=health.protocol,
                fqdn=None if by_ip else host,
                ip_address=host if by_ip else None,
                port=health.port,
                resource_path=health.model_path(model),
                request_interval=health.interval_s,
                failure_threshold=health.failure_threshold,
                tags={"Name": f"{plan.fqdn} {endpoint.cloud} {model}"},
            )
            for model in health.models
        ]
        check = Route53HealthCheck(
            self,
            self._HEALTH_CHECK_ID,
            type="CALCULATED",
            child_healthchecks=[child.id for child in children],
            child_health_threshold=len(children),
            tags={"Name": f"{plan.fqdn} {endpoint.cloud}"},
        )
        self.health_check_id: str = check.id
        self.target: str = host
        if endpoint.address_record is not None:
            address = Route53Record(
                self,
                self._ADDRESS_ID,
                zone_id=zone_id,
                name=endpoint.address_record,
                type="A",
                ttl=plan.ttl_s,
                records=[host],
            )
            skip_checks(address, _ADDRESS_RECORD_REASONS)
            self.target = endpoint.address_record


class _Answer(Construct):
    """One answer of a name: a CNAME to a cloud's endpoint (health-checked) or to a nested set."""

    _RECORD_ID = "Record"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: GlobalDnsPlan,
        record: DnsRecordPlan,
        endpoints: Mapping[Cloud, _Endpoint],
        zone_id: str,
    ) -> None:
        super().__init__(scope, id)
        endpoint = endpoints[record.cloud] if record.cloud is not None else None
        Route53Record(
            self,
            self._RECORD_ID,
            zone_id=zone_id,
            name=record.name,
            type="CNAME",
            ttl=plan.ttl_s,
            records=[endpoint.target if endpoint is not None else str(record.nested_name)],
            set_identifier=record.set_identifier,
            health_check_id=endpoint.health_check_id if endpoint is not None else None,
            failover_routing_policy=Route53RecordFailoverRoutingPolicy(type=record.failover)
            if record.failover
            else None,
            weighted_routing_policy=Route53RecordWeightedRoutingPolicy(weight=record.weight)
            if record.weight is not None
            else None,
        )
