"""The Application Load Balancer: one target group per model and slot, weighted blue/green routes.

Each model gets a listener rule (path prefix `/<model>/` or host `<model>.<domain>`, per
`access.routing`) that forwards to its slots' target groups with the slots' weights. With an API
key, a rule matches only when `Authorization: Bearer <key>` is present; everything else gets 401,
except `GET /<model>/health` when global DNS checks the endpoint (Route 53 cannot send a key).
Unknown routes get 404. HTTPS when a certificate is configured (HTTP then only redirects).
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
    LbListenerRuleActionFixedResponse,
    LbListenerRuleActionForward,
    LbListenerRuleActionForwardStickiness,
    LbListenerRuleActionForwardTargetGroup,
    LbListenerRuleCondition,
    LbListenerRuleConditionHostHeader,
    LbListenerRuleConditionHttpHeader,
    LbListenerRuleConditionHttpRequestMethod,
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

#: TLS 1.3 with 1.2 fallback: AWS's recommended policy for new HTTPS listeners.
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
#: Rule priorities: models from 100 in steps of 10, the keyed catch-all last.
_FIRST_PRIORITY = 100
_PRIORITY_STEP = 10
_CATCH_ALL_PRIORITY = 50000

_LB_REASONS = {"CKV_AWS_150": "`llmdeploy destroy` must be able to remove the environment"}
_PUBLIC_LB_REASONS = {"CKV2_AWS_28": "clients are admitted by CIDR and API key at the listener; no WAF rules"}
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
    _CATCH_ALL_ID = "KeyedCatchAll"

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
        listener = self._listener(lb, plan.access, access.api_key)
        self.target_groups = {
            fleet.name: _target_group(self, fleet, name=name, vpc_id=network.vpc_id) for fleet in fleets
        }
        self.rule_arns: dict[str, str] = {}
        for index, model in enumerate(plan.models):
            scope = _Route(self, model.name)
            self.rule_arns[model.name] = self._route(
                scope, listener, model, index, plan.access, access.api_key
            )
            if model.name in plan.keyless_health_paths:
                self._keyless_health(scope, listener, model, index, plan.keyless_health_paths[model.name])
        if access.api_key is not None:
            self._keyed_catch_all(listener, access.api_key)
        self.endpoints = {model.name: _endpoint(model, plan.access, lb.dns_name) for model in plan.models}
        self.arn_suffix: str = lb.arn_suffix
        self.listener_arn: str = listener.arn

    def _listener(self, lb: Lb, config: AccessConfig, api_key: str | None) -> LbListener:
        default = LbListenerDefaultAction(
            type="fixed-response",
            fixed_response=LbListenerDefaultActionFixedResponse(
                content_type="application/json",
                status_code="401" if api_key is not None else "404",
                message_body='{"error":"unauthorized"}'
                if api_key is not None
                else '{"error":"no such model"}',
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
        self,
        scope: _Route,
        listener: LbListener,
        model: ModelPlan,
        index: int,
        config: AccessConfig,
        api_key: str | None,
    ) -> str:
        """The model's rule, keyed when there is an API key; returns its ARN."""
        conditions = [_route_condition(model, config)]
        if api_key is not None:
            conditions.append(_key_condition(api_key))
        rule = LbListenerRule(
            scope,
            _Route.RULE_ID,
            listener_arn=listener.arn,
            priority=_FIRST_PRIORITY + index * _PRIORITY_STEP,
            condition=conditions,
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

    def _keyless_health(
        self, scope: _Route, listener: LbListener, model: ModelPlan, index: int, path: str
    ) -> None:
        """`GET <path>` without the key, ahead of the model's keyed rule: Route 53 cannot send one."""
        LbListenerRule(
            scope,
            _Route.KEYLESS_HEALTH_ID,
            listener_arn=listener.arn,
            priority=_FIRST_PRIORITY + index * _PRIORITY_STEP - 1,
            condition=[
                LbListenerRuleCondition(path_pattern=LbListenerRuleConditionPathPattern(values=[path])),
                LbListenerRuleCondition(
                    http_request_method=LbListenerRuleConditionHttpRequestMethod(values=["GET"])
                ),
            ],
            action=[self._forward(model)],
        )

    def _keyed_catch_all(self, listener: LbListener, api_key: str) -> None:
        """Authorized requests to an unknown route get 404, not the 401 of the default action."""
        LbListenerRule(
            self,
            self._CATCH_ALL_ID,
            listener_arn=listener.arn,
            priority=_CATCH_ALL_PRIORITY,
            condition=[_key_condition(api_key)],
            action=[
                LbListenerRuleAction(
                    type="fixed-response",
                    fixed_response=LbListenerRuleActionFixedResponse(
                        content_type="application/json",
                        status_code="404",
                        message_body='{"error":"no such model"}',
                    ),
                )
            ],
        )


class _Route(Construct):
    """Scope of one model's listener rule, so its address carries the model's name."""

    RULE_ID = "Rule"
    KEYLESS_HEALTH_ID = "KeylessHealth"


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
        deregistration_delay=str(fleet.traffic.deregistration_delay_s),
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


def _route_condition(model: ModelPlan, config: AccessConfig) -> LbListenerRuleCondition:
    if config.routing == "host":
        return LbListenerRuleCondition(
            host_header=LbListenerRuleConditionHostHeader(values=[_model_host(model.name, config)])
        )
    return LbListenerRuleCondition(
        path_pattern=LbListenerRuleConditionPathPattern(values=[f"{model.route_prefix}*"])
    )


def _key_condition(api_key: str) -> LbListenerRuleCondition:
    return LbListenerRuleCondition(
        http_header=LbListenerRuleConditionHttpHeader(
            http_header_name="Authorization", values=[f"Bearer {api_key}"]
        )
    )


def _model_host(model: str, config: AccessConfig) -> str:
    return f"{model}.{config.tls.domain}" if config.tls.domain else f"{model}.*"


def _endpoint(model: ModelPlan, config: AccessConfig, dns_name: str) -> str:
    scheme = "https" if config.tls.aws_certificate_arn else "http"
    if config.routing == "host":
        return f"{scheme}://{_model_host(model.name, config) if config.tls.domain else dns_name}/"
    return f"{scheme}://{dns_name}{model.route_prefix}"
