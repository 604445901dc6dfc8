"""Who may reach what: client networks to the load balancer, the load balancer to the engines.

Two security groups: the load balancer's admits only the configured client CIDRs (for an internal
endpoint without any, the VPC) on the listener ports; the instances' admits only the load
balancer's group on the engine ports. The API key is checked by each replica's proxy, which reads
it from Secrets Manager itself: no Terraform plan or state ever holds it.
"""

from __future__ import annotations

from cdktn_provider_aws.security_group import SecurityGroup
from cdktn_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktn_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from llmdeploy.clouds.aws.resolve import HTTP_PORT, HTTPS_PORT, AwsPlan
from modules.aws.network import ANYWHERE, Network
from modules.common import skip_checks

#: checkov's port-80 ingress check, on the two kinds of rule that trip it.
_OPEN_PORT_80 = "CKV_AWS_260"
_CLIENTS_ON_80 = "clients admitted by config (access.allowed_cidrs) on a plain-HTTP endpoint it allows"
_REDIRECT_ON_80 = "clients admitted by config (access.allowed_cidrs); port 80 only redirects them to HTTPS"
_SOURCE_GROUP_ON_80 = (
    "false positive: the only source is the load balancer's security group "
    "(referenced_security_group_id), which this check does not read"
)
#: Instances fetch weights, images and packages over HTTPS (and HTTP for some package mirrors).
_EGRESS_PORTS = (HTTPS_PORT, HTTP_PORT)


def client_ingress(
    scope: Construct, group_id: str, listener_ports: tuple[int, ...], clients: list[str]
) -> None:
    """Admit the client networks to a load balancer's security group on its listener ports."""
    for port in listener_ports:
        for index, cidr in enumerate(clients):
            rule = VpcSecurityGroupIngressRule(
                scope,
                f"Client{port}-{index}",
                security_group_id=group_id,
                description=f"clients on {port}",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=cidr,
            )
            if cidr == ANYWHERE and port == HTTP_PORT:
                reason = _REDIRECT_ON_80 if HTTPS_PORT in listener_ports else _CLIENTS_ON_80
                skip_checks(rule, {_OPEN_PORT_80: reason})


def allow(
    scope: Construct, ids: tuple[str, str], groups: tuple[str, str], port: int, descriptions: tuple[str, str]
) -> VpcSecurityGroupIngressRule:
    """Security group `groups[0]` may reach `groups[1]` on `port`: its egress rule and the other's
    ingress rule (`ids` and `descriptions` are (egress, ingress)). Returns the ingress rule.

    Rule descriptions take letters, digits, spaces and `._-:/()#,@[]+=&;{}!$*` only (EC2 API,
    IpRange.Description): no apostrophe.
    """
    (egress_id, ingress_id), (source, target), (to, of) = ids, groups, descriptions
    VpcSecurityGroupEgressRule(
        scope,
        egress_id,
        security_group_id=source,
        description=to,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=target,
    )
    return VpcSecurityGroupIngressRule(
        scope,
        ingress_id,
        security_group_id=target,
        description=of,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=source,
    )


def internet_egress(scope: Construct, group_id: str) -> None:
    """Let instances reach the internet (through NAT) on the ports of model hubs, registries, AWS APIs."""
    for port in _EGRESS_PORTS:
        VpcSecurityGroupEgressRule(
            scope,
            f"Outbound{port}",
            security_group_id=group_id,
            description=f"model hub, registries and AWS APIs on {port}",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4=ANYWHERE,
        )


class Access(Construct):
    """The load balancer's and the instances' security groups.

    Attributes:
        load_balancer_group_id: security group of the load balancer.
        instance_group_id: security group of every GPU instance.
    """

    _LB_GROUP_ID = "LoadBalancerGroup"
    _INSTANCE_GROUP_ID = "InstanceGroup"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        plan: AwsPlan,
        network: Network,
    ) -> None:
        super().__init__(scope, id)
        name, access = plan.prefix, plan.access
        listener_ports, engine_ports = plan.load_balancer.listener_ports, plan.engine_ports
        lb_group = SecurityGroup(
            self,
            self._LB_GROUP_ID,
            name=access.load_balancer_group,
            description=f"llmdeploy {name}: clients to the load balancer",
            vpc_id=network.vpc_id,
            tags={"Name": access.load_balancer_group},
        )
        instance_group = SecurityGroup(
            self,
            self._INSTANCE_GROUP_ID,
            name=access.instance_group,
            description=f"llmdeploy {name}: load balancer to the GPU instances",
            vpc_id=network.vpc_id,
            tags={"Name": access.instance_group},
        )
        client_ingress(self, lb_group.id, listener_ports, list(access.client_cidrs) or [network.vpc_cidr])
        for port in engine_ports:
            from_lb = allow(
                self,
                (f"ToEngine{port}", f"FromLoadBalancer{port}"),
                (lb_group.id, instance_group.id),
                port,
                (f"to the engines on {port}", f"the load balancer on {port}"),
            )
            if port == HTTP_PORT:
                skip_checks(from_lb, {_OPEN_PORT_80: _SOURCE_GROUP_ON_80})
        internet_egress(self, instance_group.id)
        self.load_balancer_group_id: str = lb_group.id
        self.instance_group_id: str = instance_group.id
