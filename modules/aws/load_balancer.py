"""The Application Load Balancer: one target group per model and slot, weighted blue/green routes.

Each model gets a listener rule (path prefix `/<model>/` or host `<model>.<domain>`, per
`access.routing`) that forwards to its slots' target groups with the slots' weights. Unknown routes
get 404. HTTPS when a certificate is configured (HTTP then only redirects to it).

The API key is not checked here: each replica's proxy checks it (and serves the health path without
it, for the load balancer and Route 53). ALB header conditions compare case-insensitively, treat
`*` and `?` as wildcards, stop at 128 characters and show the key to anyone allowed
DescribeRules (CloudFormation `ListenerRule HttpHeaderConfig`), so no rule holds it.
"""

from __future__ import annotations

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
    LbListenerRuleConditionPathPattern,
)
from cdktn_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from constructs import Construct

from llmdeploy.config.environment import Access as AccessConfig
from llmdeploy.plan.model import DeploymentPlan, FleetPlan, ModelPlan
from modules.aws.access import HTTP_PORT, HTTPS_PORT, Access
from modules.aws.access_logs import AccessLogBucket
from modules.aws.network import Network
from modules.common import LB_NAME_LIMIT, short_name, skip_checks

#: TLS 1.3 with 1.2 fallback: the default policy of new HTTPS listeners in the console and API
#: (docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
#: Rule priorities: models from 100 in steps of 10.
_FIRST_PRIORITY = 100
_PRIORITY_STEP = 10

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

_TARGET_GROUP_REASONS = {
    "CKV_AWS_378": "TLS ends at the load balancer; engines serve plain HTTP to it alone, in private subnets",
}


def listener_ports(config: AccessConfig) -> tuple[int, ...]:
    """The ports clients connect to: HTTPS plus the HTTP redirect, or plain HTTP."""
    return (HTTPS_PORT, HTTP_PORT) if config.tls.aws_certificate_arn else (HTTP_PORT,)


class LoadBalancer(Construct):
    """The load balancer in front of every model's fleets.

    Attributes:
        arn_suffix: for CloudWatch dimensions and scaling resource labels.
        listener_arn: the listener carrying the model routes.
        target_groups: by fleet name (`<model>-<slot>`).
        rule_arns: the listener rule of each model, by model name.
        endpoints: the URL of each model, by model name.
    """

    _LB_ID = "LoadBalancer"
    _LISTENER_ID = "Listener"
    _REDIRECT_ID = "HttpRedirect"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        plan: DeploymentPlan,
        network: Network,
        access: Access,
        logs: AccessLogBucket,
    ) -> None:
        super().__init__(scope, id)
        fleets = plan.fleets_on("aws")
        internal = plan.access.scheme == "internal"
        lb = Lb(
            self,
            self._LB_ID,
            name=short_name(name, limit=LB_NAME_LIMIT),
            internal=internal,
            load_balancer_type="application",
            security_groups=[access.load_balancer_group_id],
            subnets=network.private_subnet_ids if internal else network.public_subnet_ids,
            idle_timeout=max(fleet.traffic.idle_timeout_s for fleet in fleets),
            drop_invalid_header_fields=True,
            enable_deletion_protection=False,
            access_logs=LbAccessLogs(bucket=logs.bucket, enabled=True),
            depends_on=[logs.ready],
        )
        plain_http = plan.access.tls.aws_certificate_arn is None
        skip_checks(
            lb,
            {
                **_LB_REASONS,
                **({} if internal else _PUBLIC_LB_REASONS),
                **(_PLAIN_HTTP_LB_REASONS if plain_http else {}),
            },
        )
        listener = self._listener(lb, plan.access)
        self.target_groups = {
            fleet.name: _target_group(self, fleet, name=name, vpc_id=network.vpc_id) for fleet in fleets
        }
        self.rule_arns = {
            model.name: self._route(_Route(self, model.name), listener, model, index, plan.access)
            for index, model in enumerate(plan.models)
        }
        self.endpoints = {model.name: _endpoint(model, plan.access, lb.dns_name) for model in plan.models}
        self.arn_suffix: str = lb.arn_suffix
        self.listener_arn: str = listener.arn

    def _listener(self, lb: Lb, config: AccessConfig) -> LbListener:
        default = LbListenerDefaultAction(
            type="fixed-response",
            fixed_response=LbListenerDefaultActionFixedResponse(
                content_type="application/json", status_code="404", message_body='{"error":"no such model"}'
            ),
        )
        certificate = config.tls.aws_certificate_arn
        if certificate is None:
            listener = LbListener(
                self,
                self._LISTENER_ID,
                load_balancer_arn=lb.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_action=[default],
            )
            skip_checks(listener, _PLAIN_HTTP_LISTENER_REASONS)
            return listener
        LbListener(
            self,
            self._REDIRECT_ID,
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
            self,
            self._LISTENER_ID,
            load_balancer_arn=lb.arn,
            port=HTTPS_PORT,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=certificate,
            default_action=[default],
        )

    def _route(
        self, scope: _Route, listener: LbListener, model: ModelPlan, index: int, config: AccessConfig
    ) -> str:
        """The model's rule; returns its ARN."""
        rule = LbListenerRule(
            scope,
            _Route.RULE_ID,
            listener_arn=listener.arn,
            priority=_FIRST_PRIORITY + index * _PRIORITY_STEP,
            condition=[_route_condition(model, config)],
            action=[self._forward(model)],
        )
        arn: str = rule.arn
        return arn

    def _forward(self, model: ModelPlan) -> LbListenerRuleAction:
        """To the model's slots by their weights."""
        return LbListenerRuleAction(
            type="forward",
            forward=LbListenerRuleActionForward(
                target_group=[
                    LbListenerRuleActionForwardTargetGroup(
                        arn=self.target_groups[fleet.name].arn, weight=fleet.traffic.weight
                    )
                    for fleet in model.fleets_on("aws")
                ],
                # Weights apply per request only without stickiness.
                stickiness=LbListenerRuleActionForwardStickiness(enabled=False, duration=1),
            ),
        )


class _Route(Construct):
    """Scope of one model's listener rule, so its address carries the model's name."""

    RULE_ID = "Rule"


class _Slot(Construct):
    """Scope of one fleet's target group, so its address carries the fleet's name."""

    TARGET_GROUP_ID = "TargetGroup"


def _target_group(scope: Construct, fleet: FleetPlan, *, name: str, vpc_id: str) -> LbTargetGroup:
    health = fleet.health
    group = LbTargetGroup(
        _Slot(scope, fleet.name),
        _Slot.TARGET_GROUP_ID,
        name=short_name(name, fleet.model, fleet.slot, limit=LB_NAME_LIMIT),
        port=health.port,
        protocol="HTTP",
        target_type="instance",
        vpc_id=vpc_id,
        deregistration_delay=str(drain_s(fleet)),
        load_balancing_algorithm_type=fleet.traffic.algorithm,
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
        tags={"llmdeploy:model": fleet.model, "llmdeploy:slot": fleet.slot},
    )
    skip_checks(group, _TARGET_GROUP_REASONS)
    return group


def drain_s(fleet: FleetPlan) -> int:
    """The target group's deregistration delay: long enough for the longest request to finish.

    On scale-in and instance refresh the group deregisters the replica and waits this long before
    its termination hook runs, so this, not the hook, is the drain ("Amazon EC2 Auto Scaling waits
    for the instance to deregister from the load balancer before calling the termination lifecycle
    hook", capacity-rebalancing user guide). A replica whose requests are done leaves early: "If a
    deregistering target has no in-flight requests and no active connections, Elastic Load
    Balancing immediately completes the deregistration process" (ALB target group docs,
    "Deregistration delay"). Both values are at most 3600 s, the provider's limit
    (`deregistration_delay`, IntBetween(0, 3600)).
    """
    return max(fleet.traffic.deregistration_delay_s, fleet.traffic.request_timeout_s)


def _route_condition(model: ModelPlan, config: AccessConfig) -> LbListenerRuleCondition:
    if config.routing == "host":
        return LbListenerRuleCondition(
            host_header=LbListenerRuleConditionHostHeader(values=[_model_host(model.name, config)])
        )
    return LbListenerRuleCondition(
        path_pattern=LbListenerRuleConditionPathPattern(values=[f"{model.route_prefix}*"])
    )


def _model_host(model: str, config: AccessConfig) -> str:
    return f"{model}.{config.tls.domain}" if config.tls.domain else f"{model}.*"


def _endpoint(model: ModelPlan, config: AccessConfig, dns_name: str) -> str:
    scheme = "https" if config.tls.aws_certificate_arn else "http"
    if config.routing == "host":
        return f"{scheme}://{_model_host(model.name, config) if config.tls.domain else dns_name}/"
    return f"{scheme}://{dns_name}{model.route_prefix}"
