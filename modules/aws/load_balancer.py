"""The Application Load Balancer: one target group per model and slot, weighted blue/green routes.

Each model gets a listener rule (path prefix `/<model>/` or host `<model>.<domain>`, per
`access.routing`) that forwards to its slots' target groups with the slots' weights. Unknown routes
get 404. HTTPS when a certificate is configured (HTTP then only redirects to it).

Each slot also gets its own address: a rule with the model's condition plus an `http-header`
condition on the slot header (`X-LLMDeploy-Slot: <slot>`, llmdeploy.plan.routes.SLOT_HEADER),
evaluated before the weighted rule (a lower priority number), forwards to that slot's target group
alone, at any weight. Two match evaluations of the five a rule may have (ELB guide "Condition types
for listener rules": up to three per condition, five per rule). Requests without the header never
match it. It is an operator's path (`llmdeploy smoke --slot`, promotion's smoke check), not a
bypass: the replica's proxy still checks the key, and a client pinning a slot only pins its own
requests (to a slot that may be idle or unhealthy: it gets that slot's 503s, nobody else does).

The API key is not checked here: each replica's proxy checks it (and serves the health path without
it, for the load balancer and Route 53). ALB header conditions compare case-insensitively, treat
`*` and `?` as wildcards, stop at 128 characters and show the key to anyone allowed
DescribeRules (CloudFormation `ListenerRule HttpHeaderConfig`), so no rule holds it.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktn_provider_aws.lb import Lb, LbAccessLogs
from cdktn_provider_aws.lb_listener import (
    LbListener,
    LbListenerDefaultAction,
    LbListenerDefaultActionFixedResponse,
    LbListenerDefaultActionRedirect,
)
from cdktn_provider_aws.lb_listener_rule import (
    LbListenerRule,
    LbListenerRuleAction,
    LbListenerRuleActionForward,
    LbListenerRuleActionForwardStickiness,
    LbListenerRuleActionForwardTargetGroup,
    LbListenerRuleCondition,
    LbListenerRuleConditionHostHeader,
    LbListenerRuleConditionHttpHeader,
    LbListenerRuleConditionPathPattern,
)
from cdktn_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from constructs import Construct

from llmdeploy.clouds.aws.resolve import (
    HTTP_PORT,
    HTTPS_PORT,
    AwsFleet,
    AwsLoadBalancer,
    AwsPlan,
    AwsRoute,
    AwsTargetGroup,
)
from llmdeploy.plan.routes import SLOT_HEADER, SLOT_ORDER
from modules.aws.access import Access
from modules.aws.access_logs import AccessLogBucket
from modules.aws.dns import AliasTarget
from modules.aws.network import Network
from modules.common import skip_checks

#: TLS 1.3 with 1.2 fallback: the default policy of new HTTPS listeners in the console and API
#: (docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
_LB_REASONS = {"CKV_AWS_150": "`llmdeploy destroy` must be able to remove the environment"}
_PUBLIC_LB_REASONS = {
    "CKV2_AWS_28": "clients are admitted by CIDR here and by API key at each replica's proxy; no WAF rules"
}
# Plain HTTP is what the config allows without a certificate: an internal endpoint, one without an
# API key, or the loudly named access.tls.insecure_plain_http_demo_only (config validation).
_PLAIN_HTTP_LB_REASONS = {
    "CKV2_AWS_20": "no certificate configured: there is no HTTPS listener to redirect to"
}
_PLAIN_HTTP_LISTENER_REASONS = {
    "CKV_AWS_2": "no certificate configured (access.tls.aws_certificate_arn): the endpoint is plain HTTP",
    "CKV_AWS_103": "no certificate configured: there is no TLS version to set",
}

#: Construct IDs of the listeners, in the scope of the load balancer construct that owns them.
LISTENER_ID = "Listener"
REDIRECT_ID = "HttpRedirect"


def _no_such_model() -> LbListenerDefaultAction:
    """What the fleets' listener answers a request no model's rule matches."""
    return LbListenerDefaultAction(
        type="fixed-response",
        fixed_response=LbListenerDefaultActionFixedResponse(
            content_type="application/json", status_code="404", message_body='{"error":"no such model"}'
        ),
    )


_TARGET_GROUP_REASONS = {
    "CKV_AWS_378": "TLS ends at the load balancer; engines serve plain HTTP to it alone, in private subnets",
}


class LoadBalancer(Construct):
    """The load balancer in front of every model's fleets.

    Attributes:
        arn_suffix: for CloudWatch dimensions and scaling resource labels.
        listener_arn: the listener carrying the model routes.
        target_groups: by fleet name (`<model>-<slot>`).
        rule_arns: the listener rule of each model, by model name.
        endpoints: the URL of each model, by model name.
        alias: the load balancer as a Route 53 alias target.
    """

    _LB_ID = "LoadBalancer"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: AwsPlan,
        network: Network,
        access: Access,
        logs: AccessLogBucket,
    ) -> None:
        super().__init__(scope, id)
        config = plan.load_balancer
        lb = application_load_balancer(
            self,
            self._LB_ID,
            config=config,
            name=config.name,
            security_group_id=access.load_balancer_group_id,
            network=network,
            logs=logs,
        )
        listener = listeners(self, lb, config, default_action=_no_such_model())
        self.target_groups = {
            fleet.name: _target_group(self, fleet, vpc_id=network.vpc_id) for fleet in plan.fleets
        }
        self._slots = {fleet.name: fleet.slot for fleet in plan.fleets}
        self.rule_arns = {route.model: self._model(listener, route) for route in config.routes}
        self.endpoints = {route.model: route.endpoint.url(lb.dns_name) for route in config.routes}
        self.arn_suffix: str = lb.arn_suffix
        self.listener_arn: str = listener.arn
        self.alias = AliasTarget(name=lb.dns_name, zone_id=lb.zone_id)

    def _model(self, listener: LbListener, route: AwsRoute) -> str:
        """The model's weighted rule and one rule per slot; returns the weighted rule's ARN."""
        scope = _Route(self, route.model)
        for fleet in route.weights:
            slot = self._slots[fleet]
            LbListenerRule(
                scope,
                _Route.slot_rule_id(slot),
                listener_arn=listener.arn,
                priority=slot_rule_priority(route.priority, slot),
                condition=[_route_condition(route), _slot_condition(slot)],
                action=[self._forward({fleet: 1})],
            )
        return self._route(scope, listener, route)

    def _route(self, scope: _Route, listener: LbListener, route: AwsRoute) -> str:
        """The model's rule; returns its ARN."""
        rule = LbListenerRule(
            scope,
            _Route.RULE_ID,
            listener_arn=listener.arn,
            priority=route.priority,
            condition=[_route_condition(route)],
            action=[self._forward(route.weights)],
        )
        arn: str = rule.arn
        return arn

    def _forward(self, weights: Mapping[str, int]) -> LbListenerRuleAction:
        """To the fleets' target groups by their weights (a slot rule's one fleet: all of it)."""
        return LbListenerRuleAction(
            type="forward",
            forward=LbListenerRuleActionForward(
                target_group=[
                    LbListenerRuleActionForwardTargetGroup(arn=self.target_groups[fleet].arn, weight=weight)
                    for fleet, weight in weights.items()
                ],
                # Weights apply per request only without stickiness.
                stickiness=LbListenerRuleActionForwardStickiness(enabled=False, duration=1),
            ),
        )


class _Route(Construct):
    """Scope of one model's listener rules, so their addresses carry the model's name."""

    RULE_ID = "Rule"
    SLOT_RULE_ID = "SlotRule"

    @classmethod
    def slot_rule_id(cls, slot: str) -> str:
        return f"{cls.SLOT_RULE_ID}-{slot}"


def slot_rule_priority(route_priority: int, slot: str) -> int:
    """Just before the model's weighted rule: between it and the previous model's rules, since
    resolve.PRIORITY_STEP (10) leaves room for one rule per slot below each model's priority."""
    return route_priority - 1 - SLOT_ORDER[slot]


def _slot_condition(slot: str) -> LbListenerRuleCondition:
    """The slot header naming `slot` (ALB compares header values case-insensitively)."""
    return LbListenerRuleCondition(
        http_header=LbListenerRuleConditionHttpHeader(http_header_name=SLOT_HEADER, values=[slot])
    )


class _Slot(Construct):
    """Scope of one fleet's target group, so its address carries the fleet's name."""

    TARGET_GROUP_ID = "TargetGroup"


def _target_group(scope: Construct, fleet: AwsFleet, *, vpc_id: str) -> LbTargetGroup:
    return target_group(_Slot(scope, fleet.name), _Slot.TARGET_GROUP_ID, fleet.target_group, vpc_id=vpc_id)


def target_group(
    scope: Construct, id: str, config: AwsTargetGroup, *, vpc_id: str, https_listener: bool = False
) -> LbTargetGroup:
    """Instances on `config.port`, health-checked on its path (a fleet's or the routers').

    `https_listener`: an HTTPS listener's default action forwards to it, which checkov's CKV_AWS_378
    accepts (its graph check passes a target group connected to a non-HTTP listener), so no skip.
    """
    health = config.health
    group = LbTargetGroup(
        scope,
        id,
        name=config.name,
        port=config.port,
        protocol="HTTP",
        target_type="instance",
        vpc_id=vpc_id,
        deregistration_delay=str(config.drain_s),
        load_balancing_algorithm_type=config.algorithm,
        health_check=LbTargetGroupHealthCheck(
            enabled=True,
            protocol="HTTP",
            port="traffic-port",
            path=health.path,
            matcher="200",
            interval=health.interval_s,
            timeout=health.timeout_s,
            healthy_threshold=health.healthy_threshold,
            unhealthy_threshold=health.unhealthy_threshold,
        ),
        tags=dict(config.tags),
    )
    if not https_listener:
        skip_checks(group, _TARGET_GROUP_REASONS)
    return group


def application_load_balancer(
    scope: Construct,
    id: str,
    *,
    config: AwsLoadBalancer,
    name: str,
    security_group_id: str,
    network: Network,
    logs: AccessLogBucket,
) -> Lb:
    """An ALB placed and logged as `config` says (the fleets' load balancer, and the routers')."""
    lb = Lb(
        scope,
        id,
        name=name,
        internal=config.internal,
        load_balancer_type="application",
        security_groups=[security_group_id],
        subnets=network.private_subnet_ids if config.internal else network.public_subnet_ids,
        idle_timeout=config.idle_timeout_s,
        drop_invalid_header_fields=True,
        enable_deletion_protection=False,
        access_logs=LbAccessLogs(bucket=logs.bucket, enabled=True),
        depends_on=[logs.ready],
    )
    skip_checks(
        lb,
        {
            **_LB_REASONS,
            **({} if config.internal else _PUBLIC_LB_REASONS),
            **(_PLAIN_HTTP_LB_REASONS if config.certificate_arn is None else {}),
        },
    )
    return lb


def listeners(
    scope: Construct, lb: Lb, config: AwsLoadBalancer, *, default_action: LbListenerDefaultAction
) -> LbListener:
    """HTTPS with the configured certificate plus an HTTP redirect to it, or plain HTTP alone.

    Returns the listener that serves (`default_action` is its action for requests no rule takes).
    """
    certificate = config.certificate_arn
    if certificate is None:
        listener = LbListener(
            scope,
            LISTENER_ID,
            load_balancer_arn=lb.arn,
            port=HTTP_PORT,
            protocol="HTTP",
            default_action=[default_action],
        )
        skip_checks(listener, _PLAIN_HTTP_LISTENER_REASONS)
        return listener
    LbListener(
        scope,
        REDIRECT_ID,
        load_balancer_arn=lb.arn,
        port=HTTP_PORT,
        protocol="HTTP",
        default_action=[
            LbListenerDefaultAction(
                type="redirect",
                redirect=LbListenerDefaultActionRedirect(
                    port=str(HTTPS_PORT), protocol="HTTPS", status_code="HTTP_301"
                ),
            )
        ],
    )
    return LbListener(
        scope,
        LISTENER_ID,
        load_balancer_arn=lb.arn,
        port=HTTPS_PORT,
        protocol="HTTPS",
        ssl_policy=TLS_POLICY,
        certificate_arn=certificate,
        default_action=[default_action],
    )


def _route_condition(route: AwsRoute) -> LbListenerRuleCondition:
    """Host routing matches the model's host name, path routing its prefix (one of them is set)."""
    return LbListenerRuleCondition(
        host_header=None
        if route.host_header is None
        else LbListenerRuleConditionHostHeader(values=[route.host_header]),
        path_pattern=None
        if route.path_pattern is None
        else LbListenerRuleConditionPathPattern(values=[route.path_pattern]),
    )
