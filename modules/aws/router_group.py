"""The CPU router group (issue 13, docs/routing.md): routers across zones behind their own load balancer.

An ALB listener cannot fail over between target groups (a weighted forward keeps its weights), so the
routers get a second ALB with the fleets' listener setup, and the fleets' target groups stay on the
first one: their target health is what the routers' membership reads (`DescribeTargetHealth`).
Traffic: clients -> routers' ALB -> routers (ROUTER_PORT) -> the replicas' proxies (engine ports).

The router group has a fixed size (min = max = desired): routers are not scaled, they are replaced
when the load balancer finds one unhealthy (ELB health checks), and rolled when their bundle changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import TerraformResourceLifecycle, Token
from cdktn_provider_aws.autoscaling_group import (
    AutoscalingGroup,
    AutoscalingGroupInstanceRefresh,
    AutoscalingGroupInstanceRefreshPreferences,
    AutoscalingGroupLaunchTemplate,
    AutoscalingGroupTag,
)
from cdktn_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktn_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMonitoring,
    LaunchTemplateNetworkInterfaces,
    LaunchTemplateTagSpecifications,
)
from cdktn_provider_aws.lb_listener import LbListenerDefaultAction
from cdktn_provider_aws.security_group import SecurityGroup
from constructs import Construct

from llmdeploy import metrics
from llmdeploy.clouds.aws.resolve import (
    ROLLOUT_MAX_HEALTHY_PERCENT,
    ROLLOUT_MIN_HEALTHY_PERCENT,
    AwsPlan,
    AwsRouterGroup,
)
from modules.aws.access import Access, allow, client_ingress, internet_egress
from modules.aws.access_logs import AccessLogBucket
from modules.aws.account import Account, Statement
from modules.aws.dns import AliasTarget
from modules.aws.gpu_fleet import ROOT_DEVICE, encrypted_root, imdsv2, instance_profile
from modules.aws.load_balancer import application_load_balancer, listeners, target_group
from modules.aws.network import Network


@dataclass(frozen=True)
class RouterRefs:
    """What the router group refers to elsewhere in the stack."""

    account: Account
    network: Network
    access: Access
    logs: AccessLogBucket


class RouterGroup(Construct):
    """The routers, their security groups, role, load balancer and target group.

    Attributes:
        endpoint: `<scheme>://<the routers' load balancer>`: clients call the models' paths on it.
        group_name: the routers' Auto Scaling group.
        alias: the routers' load balancer as a Route 53 alias target.
    """

    _LB_GROUP_ID = "LoadBalancerGroup"
    _INSTANCE_GROUP_ID = "InstanceGroup"
    _TO_ROUTERS_ID = "ToRouters"
    _FROM_LB_ID = "FromLoadBalancer"
    _TO_REPLICAS_ID = "ToReplicas"
    _FROM_ROUTERS_ID = "FromRouters"
    _IMAGE_ID = "Image"
    _TEMPLATE_ID = "LaunchTemplate"
    _GROUP_ID = "Group"
    _TARGET_GROUP_ID = "TargetGroup"
    _LB_ID = "LoadBalancer"

    def __init__(
        self, scope: Construct, id: str, *, plan: AwsPlan, routers: AwsRouterGroup, refs: RouterRefs
    ) -> None:
        super().__init__(scope, id)
        network = refs.network
        lb_group, instance_group = self._security_groups(plan, routers, refs)
        profile = instance_profile(self, routers.role_name, router_statements(routers, refs.account))
        image = DataAwsSsmParameter(self, self._IMAGE_ID, name=routers.ami_parameter)
        template = self._launch_template(routers, image.insecure_value, instance_group, profile.arn)
        group = target_group(
            self,
            self._TARGET_GROUP_ID,
            routers.target_group,
            vpc_id=network.vpc_id,
            https_listener=plan.load_balancer.certificate_arn is not None,
        )
        self._group(routers, template, network.private_subnet_ids, group.arn)
        lb = application_load_balancer(
            self,
            self._LB_ID,
            config=plan.load_balancer,
            name=routers.load_balancer_name,
            security_group_id=lb_group,
            network=network,
            logs=refs.logs,
        )
        # Every request goes to the routers: their nginx routes by model as the fleets' rules do.
        listeners(
            self,
            lb,
            plan.load_balancer,
            default_action=LbListenerDefaultAction(type="forward", target_group_arn=group.arn),
        )
        self.endpoint = f"{routers.scheme}://{lb.dns_name}"
        self.alias = AliasTarget(name=lb.dns_name, zone_id=lb.zone_id)
        self.group_name = routers.group_name

    def _security_groups(self, plan: AwsPlan, routers: AwsRouterGroup, refs: RouterRefs) -> tuple[str, str]:
        """Clients -> the routers' ALB -> the routers -> the replicas' proxies; returns (ALB's, routers')."""
        vpc_id, replicas = refs.network.vpc_id, refs.access.instance_group_id
        lb_group = SecurityGroup(
            self,
            self._LB_GROUP_ID,
            name=routers.load_balancer_security_group,
            description=f"llmdeploy {plan.prefix}: clients to the router load balancer",
            vpc_id=vpc_id,
            tags={"Name": routers.load_balancer_security_group},
        )
        instance_group = SecurityGroup(
            self,
            self._INSTANCE_GROUP_ID,
            name=routers.instance_security_group,
            description=f"llmdeploy {plan.prefix}: the router load balancer to the routers",
            vpc_id=vpc_id,
            tags={"Name": routers.instance_security_group},
        )
        client_ingress(
            self,
            lb_group.id,
            plan.load_balancer.listener_ports,
            list(plan.access.client_cidrs) or [refs.network.vpc_cidr],
        )
        port = routers.target_group.port
        allow(
            self,
            (self._TO_ROUTERS_ID, self._FROM_LB_ID),
            (lb_group.id, instance_group.id),
            port,
            (f"to the routers on {port}", f"from their load balancer on {port}"),
        )
        for port in plan.engine_ports:
            allow(
                self,
                (f"{self._TO_REPLICAS_ID}{port}", f"{self._FROM_ROUTERS_ID}{port}"),
                (instance_group.id, replicas),
                port,
                (f"to the replica proxies on {port}", f"from the routers on {port}"),
            )
        # The routers install their packages and call the Auto Scaling, ELB and EC2 APIs.
        internet_egress(self, instance_group.id)
        return lb_group.id, instance_group.id

    def _launch_template(
        self, routers: AwsRouterGroup, image_id: str, security_group_id: str, profile_arn: str
    ) -> LaunchTemplate:
        return LaunchTemplate(
            self,
            self._TEMPLATE_ID,
            name_prefix=routers.template_prefix,
            description=routers.template_description,
            image_id=image_id,
            instance_type=routers.instance_type,
            user_data=routers.user_data,
            update_default_version=True,
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=profile_arn),
            # No public address: routers sit in the private subnets and leave through NAT. With a
            # network interface block the security groups must go on the interface, not beside it:
            # Auto Scaling refuses the template otherwise ("When a network interface is provided, the
            # security groups must be a part of it", hashicorp/terraform-provider-aws#4570; EC2:
            # "Network interfaces and an instance-level security groups may not be specified on the
            # same request").
            network_interfaces=[
                LaunchTemplateNetworkInterfaces(
                    device_index=0,
                    associate_public_ip_address="false",
                    delete_on_termination="true",
                    security_groups=[security_group_id],
                )
            ],
            metadata_options=imdsv2(instance_tags=False),
            block_device_mappings=[encrypted_root(ROOT_DEVICE, routers.disk_gib)],
            monitoring=LaunchTemplateMonitoring(enabled=True),
            tag_specifications=[
                LaunchTemplateTagSpecifications(resource_type="volume", tags=dict(routers.tags))
            ],
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )

    def _group(
        self, routers: AwsRouterGroup, template: LaunchTemplate, subnet_ids: list[str], target_group_arn: str
    ) -> AutoscalingGroup:
        return AutoscalingGroup(
            self,
            self._GROUP_ID,
            name=routers.group_name,
            min_size=routers.count,
            max_size=routers.count,
            desired_capacity=routers.count,
            # One private subnet per zone: the group balances its routers across the zones.
            vpc_zone_identifier=subnet_ids,
            target_group_arns=[target_group_arn],
            # A router its load balancer finds unhealthy is replaced, once it has had time to boot.
            health_check_type="ELB",
            health_check_grace_period=routers.boot_grace_s,
            launch_template=AutoscalingGroupLaunchTemplate(
                id=template.id,
                # A refresh starts only on a concrete version, never on $Latest.
                version=Token.as_string(template.latest_version),
            ),
            # A new bundle (or AMI) rolls through the routers without dropping below full strength.
            instance_refresh=AutoscalingGroupInstanceRefresh(
                strategy="Rolling",
                preferences=AutoscalingGroupInstanceRefreshPreferences(
                    min_healthy_percentage=ROLLOUT_MIN_HEALTHY_PERCENT,
                    max_healthy_percentage=ROLLOUT_MAX_HEALTHY_PERCENT,
                    instance_warmup=str(routers.boot_grace_s),
                ),
            ),
            tag=[
                AutoscalingGroupTag(key=key, value=value, propagate_at_launch=True)
                for key, value in routers.instance_tags.items()
            ],
        )


def router_statements(routers: AwsRouterGroup, account: Account) -> list[Statement]:
    """What a router may do: read membership (groups, instances, target health), resize the
    fleets' groups it holds requests for (hold at zero asks for one replica), and publish its
    metrics in llmdeploy's namespace, nothing else."""
    return [
        {
            # Describe calls take no resource ARN: the Service Authorization Reference lists no
            # resource type for autoscaling:DescribeAutoScalingGroups/-Instances,
            # elasticloadbalancing:DescribeTargetGroups/DescribeTargetHealth or ec2:DescribeInstances.
            "Sid": "ReadMembership",
            "Effect": "Allow",
            "Action": [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "ec2:DescribeInstances",
            ],
            "Resource": "*",
        },
        {
            # SetDesiredCapacity takes the `autoScalingGroup` resource type: only the fleets' groups.
            "Sid": "WakeFleets",
            "Effect": "Allow",
            "Action": ["autoscaling:SetDesiredCapacity"],
            "Resource": [
                account.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{name}")
                for name in routers.fleet_group_names
            ],
        },
        {
            # PutMetricData takes no resource type; the `cloudwatch:namespace` condition key limits
            # it to one namespace (Service Authorization Reference, Amazon CloudWatch), as on the GPU VMs.
            "Sid": "PublishRouterMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": metrics.NAMESPACE}},
        },
    ]
