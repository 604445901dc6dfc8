"""One model's GPU replicas in one release slot: launch template, Auto Scaling group, scaling policy.

The AMI comes from the Deep Learning AMI's SSM parameter, read at plan time; each slot's launch
template ignores later changes of it, so a new AMI never slips into a running slot (a scale-out
launches what the rest of the slot runs). `llmdeploy release --new-image` moves the idle slot to
the current AMI by replacing its launch template; the group then rolls through an instance refresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cdktn import TerraformResourceLifecycle, Token
from cdktn_provider_aws.autoscaling_group import (
    AutoscalingGroup,
    AutoscalingGroupInitialLifecycleHook,
    AutoscalingGroupInstanceRefresh,
    AutoscalingGroupInstanceRefreshPreferences,
    AutoscalingGroupInstanceRefreshPreferencesAlarmSpecification,
    AutoscalingGroupMixedInstancesPolicy,
    AutoscalingGroupMixedInstancesPolicyInstancesDistribution,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplate,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride,
    AutoscalingGroupTag,
)
from cdktn_provider_aws.autoscaling_policy import (
    AutoscalingPolicy,
    AutoscalingPolicyStepAdjustment,
    AutoscalingPolicyTargetTrackingConfiguration,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecification,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricDimension,
    AutoscalingPolicyTargetTrackingConfigurationPredefinedMetricSpecification,
)
from cdktn_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from cdktn_provider_aws.iam_instance_profile import IamInstanceProfile
from cdktn_provider_aws.iam_role import IamRole
from cdktn_provider_aws.iam_role_policy import IamRolePolicy
from cdktn_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMetadataOptions,
    LaunchTemplateMonitoring,
    LaunchTemplateTagSpecifications,
)
from cdktn_provider_aws.lb_target_group import LbTargetGroup
from constructs import Construct

from llmdeploy import metrics
from llmdeploy.clouds.aws.resolve import (
    ROLLOUT_CHECKPOINTS,
    ROLLOUT_MAX_HEALTHY_PERCENT,
    ROLLOUT_MIN_HEALTHY_PERCENT,
    AwsFleet,
    AwsPlan,
    AwsRouterQueueScaling,
)
from llmdeploy.instance import LAUNCH_HOOK_NAME, TERMINATION_HOOK_NAME
from modules.aws.account import Account, Statement, policy, service_trust
from modules.aws.engine_logs import ship_statements
from modules.aws.registry_cache import registry_cache_statements

#: Construct IDs of an instance role, its policy and its profile, in their owner's scope.
_ROLE_ID = "InstanceRole"
_ROLE_POLICY_ID = "InstancePolicy"
_PROFILE_ID = "InstanceProfile"
#: Root device of Ubuntu AMIs: the Deep Learning AMIs and Canonical's server images (the routers).
ROOT_DEVICE = "/dev/sda1"
ELB_NAMESPACE = "AWS/ApplicationELB"
ASG_NAMESPACE = "AWS/AutoScaling"
#: CloudWatch's resolution of load balancer and group metrics.
PERIOD_S = 60
#: Group metrics the dashboard shows, at one-minute granularity.
GROUP_METRICS = (
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
)


@dataclass(frozen=True)
class FleetRefs:
    """What one fleet's resources refer to elsewhere in the stack."""

    account: Account
    image_id: str
    subnet_ids: list[str]
    security_group_id: str
    target_group: LbTargetGroup
    load_balancer_arn_suffix: str
    #: The VM log group (modules.aws.engine_logs), when the VMs ship their logs.
    log_group_arn: str | None = None


class GpuFleet(Construct):
    """The instances of one fleet (`<model>-<slot>`), registered in its target group.

    Attributes:
        fleet: the resolved fleet.
        group_name: the Auto Scaling group's name.
        target_group_arn_suffix: the target group's CloudWatch dimension.
        launch_template_id: the slot's launch template.
    """

    _TEMPLATE_ID = "LaunchTemplate"
    _GROUP_ID = "Group"
    _SCALING_ID = "TargetTracking"
    _ROUTER_QUEUE_ID = "RouterQueueTracking"
    _WAKE_POLICY_ID = "WakeFromZero"
    _WAKE_ALARM_ID = "WakeFromZeroAlarm"

    def __init__(self, scope: Construct, id: str, *, plan: AwsPlan, fleet: AwsFleet, refs: FleetRefs) -> None:
        super().__init__(scope, id)
        self.fleet = fleet
        self.group_name = fleet.group_name
        self.target_group_arn_suffix: str = refs.target_group.arn_suffix
        profile = instance_profile(
            self,
            fleet.role_name,
            [
                *instance_statements(plan, fleet, refs.account, refs.target_group.arn),
                *(ship_statements(refs.log_group_arn) if refs.log_group_arn else []),
            ],
        )
        template = self._launch_template(fleet, refs, profile.arn)
        group = self._group(fleet, template, refs)
        self._scaling(fleet, group, f"{refs.load_balancer_arn_suffix}/{refs.target_group.arn_suffix}")
        if fleet.router_queue is not None:
            self._router_queue(fleet.router_queue, group)
        if fleet.wake is not None:
            self._wake_from_zero(fleet, group, refs.load_balancer_arn_suffix)
        self.launch_template_id: str = template.id

    def _launch_template(self, fleet: AwsFleet, refs: FleetRefs, profile_arn: str) -> LaunchTemplate:
        return LaunchTemplate(
            self,
            self._TEMPLATE_ID,
            name_prefix=fleet.template_prefix,
            description=fleet.template_description,
            image_id=refs.image_id,
            user_data=fleet.user_data,
            update_default_version=True,
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=profile_arn),
            vpc_security_group_ids=[refs.security_group_id],
            # The spot watcher reads its group's name from the instance tags.
            metadata_options=imdsv2(instance_tags=True),
            block_device_mappings=[encrypted_root(ROOT_DEVICE, fleet.disk_gib)],
            monitoring=LaunchTemplateMonitoring(enabled=True),
            tag_specifications=[
                LaunchTemplateTagSpecifications(resource_type="volume", tags=dict(fleet.tags))
            ],
            lifecycle=TerraformResourceLifecycle(ignore_changes=["image_id"], create_before_destroy=True),
        )

    def _group(self, fleet: AwsFleet, template: LaunchTemplate, refs: FleetRefs) -> AutoscalingGroup:
        spot = fleet.spot
        return AutoscalingGroup(
            self,
            self._GROUP_ID,
            name=fleet.group_name,
            min_size=fleet.min_size,
            max_size=fleet.max_size,
            desired_capacity=fleet.desired_size,
            vpc_zone_identifier=refs.subnet_ids,
            target_group_arns=[refs.target_group.arn],
            health_check_type="ELB",
            # A replica enters service (and its target group) only once the launch hook is
            # completed, i.e. once its engine answers: AWS, "Set the health check grace period":
            # "If you use lifecycle hooks for instance launch, you can set the health check grace
            # period to 0" (docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html).
            health_check_grace_period=0,
            default_instance_warmup=fleet.warmup_s,
            # GPU replicas take many minutes to load a model; Terraform must not wait for them.
            wait_for_capacity_timeout="0",
            capacity_rebalance=True,
            enabled_metrics=list(GROUP_METRICS),
            metrics_granularity="1Minute",
            mixed_instances_policy=AutoscalingGroupMixedInstancesPolicy(
                instances_distribution=AutoscalingGroupMixedInstancesPolicyInstancesDistribution(
                    on_demand_base_capacity=spot.on_demand_base,
                    on_demand_percentage_above_base_capacity=spot.on_demand_percent_above_base,
                    spot_allocation_strategy=spot.allocation_strategy,
                    spot_max_price=spot.max_price,
                ),
                launch_template=AutoscalingGroupMixedInstancesPolicyLaunchTemplate(
                    launch_template_specification=(
                        AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification(
                            launch_template_id=template.id,
                            # A refresh starts only on a concrete version, never on $Latest.
                            version=Token.as_string(template.latest_version),
                        )
                    ),
                    override=[
                        AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride(instance_type=name)
                        for name in fleet.instance_types
                    ],
                ),
            ),
            # Hooks given here exist before the first instance launches: the provider creates the
            # group at size 0, puts the hooks, then sets the sizes (resourceGroupCreate, "twoPhases").
            # The block is ForceNew in the provider: changing a hook replaces the group.
            initial_lifecycle_hook=lifecycle_hooks(fleet),
            instance_refresh=AutoscalingGroupInstanceRefresh(
                strategy="Rolling",
                preferences=AutoscalingGroupInstanceRefreshPreferences(
                    min_healthy_percentage=ROLLOUT_MIN_HEALTHY_PERCENT,
                    max_healthy_percentage=ROLLOUT_MAX_HEALTHY_PERCENT,
                    instance_warmup=str(fleet.warmup_s),
                    checkpoint_percentages=list(ROLLOUT_CHECKPOINTS),
                    # AWS waits an hour at each checkpoint by default; the replicas just replaced
                    # serve already (launch hook), and the alarms need their window to judge them.
                    checkpoint_delay=str(fleet.checkpoint_delay_s),
                    skip_matching=True,
                    # A refresh that trips the fleet's gate alarms stops (fails) where it is. No
                    # auto rollback: it would restore the previous launch template version behind
                    # Terraform's back (state keeps the new one, so the next apply refreshes
                    # again), and `release --new-image` destroys that template at the end of its
                    # apply. Going back is `llmdeploy rollback`, an apply like any other.
                    auto_rollback=False,
                    # Plain names, not references: a refresh starts only on an update, when the
                    # alarms created with the group exist already (Monitoring is built after the
                    # fleets).
                    alarm_specification=AutoscalingGroupInstanceRefreshPreferencesAlarmSpecification(
                        alarms=list(fleet.gate_alarm_names)
                    ),
                ),
            ),
            tag=[
                AutoscalingGroupTag(key=key, value=value, propagate_at_launch=True)
                for key, value in fleet.instance_tags.items()
            ],
            # Scaling policies own the size after the first apply.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_capacity"]),
        )

    def _scaling(self, fleet: AwsFleet, group: AutoscalingGroup, resource_label: str) -> None:
        scaling = fleet.scaling
        AutoscalingPolicy(
            self,
            self._SCALING_ID,
            name=scaling.policy_name,
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=AutoscalingPolicyTargetTrackingConfiguration(
                target_value=scaling.target_value,
                customized_metric_specification=_queue_metric(scaling.queue_dimensions),
                predefined_metric_specification=(
                    AutoscalingPolicyTargetTrackingConfigurationPredefinedMetricSpecification(
                        predefined_metric_type="ALBRequestCountPerTarget", resource_label=resource_label
                    )
                    if scaling.queue_dimensions is None
                    else None
                ),
            ),
        )

    def _router_queue(self, scaling: AwsRouterQueueScaling, group: AutoscalingGroup) -> None:
        """Scale out when requests wait in the routers longer than the target (mean, per minute).

        Scale-in stays with the fleet's own policy: with several target tracking policies, Auto
        Scaling scales out when any asks and in only when all with scale-in enabled agree (EC2 Auto
        Scaling user guide, "Multiple dynamic scaling policies"), and an idle router publishes no
        queue time, which would otherwise leave this policy without data and the fleet never
        scaled in. At zero the routers' hold wakes the fleet (target tracking cannot scale from 0).
        """
        AutoscalingPolicy(
            self,
            self._ROUTER_QUEUE_ID,
            name=scaling.policy_name,
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=AutoscalingPolicyTargetTrackingConfiguration(
                target_value=scaling.target_ms,
                disable_scale_in=True,
                customized_metric_specification=_llmdeploy_metric(
                    metrics.ROUTER_QUEUE_MS, scaling.dimensions
                ),
            ),
        )

    def _wake_from_zero(self, fleet: AwsFleet, group: AutoscalingGroup, lb: str) -> None:
        """One replica when requests arrive for a fleet at zero, which target tracking cannot see.

        At zero replicas there is no per-target request count, and the load balancer does not count
        requests it cannot route in RequestCount: it answers them 503 and counts those per load
        balancer only. So any such 503 while this group wants no replica wakes it; on a load
        balancer shared by several sleeping models, a request to one wakes them all, and target
        tracking takes the others back to zero.
        """
        assert fleet.wake is not None  # called only for a fleet that may sleep
        policy = AutoscalingPolicy(
            self,
            self._WAKE_POLICY_ID,
            name=fleet.wake.policy_name,
            autoscaling_group_name=group.name,
            policy_type="StepScaling",
            adjustment_type="ChangeInCapacity",
            step_adjustment=[
                AutoscalingPolicyStepAdjustment(scaling_adjustment=1, metric_interval_lower_bound="0")
            ],
        )
        CloudwatchMetricAlarm(
            self,
            self._WAKE_ALARM_ID,
            alarm_name=fleet.wake.alarm_name,
            alarm_description=fleet.wake.description,
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            evaluation_periods=1,
            treat_missing_data="notBreaching",
            metric_query=[
                metric_query("unrouted", "HTTPCode_ELB_503_Count", {"LoadBalancer": lb}),
                metric_query(
                    "desired",
                    "GroupDesiredCapacity",
                    {"AutoScalingGroupName": fleet.group_name},
                    namespace=ASG_NAMESPACE,
                    stat="Maximum",
                ),
                CloudwatchMetricAlarmMetricQuery(
                    id="waiting",
                    expression="IF(desired == 0, unrouted, 0)",
                    label="503s while at zero",
                    return_data=True,
                ),
            ],
            alarm_actions=[policy.arn],
            actions_enabled=True,
        )


def instance_profile(scope: Construct, role_name: str, statements: list[Statement]) -> IamInstanceProfile:
    """An EC2 instance role allowed `statements` only, and its instance profile (same name)."""
    role = IamRole(scope, _ROLE_ID, name=role_name, assume_role_policy=service_trust("ec2.amazonaws.com"))
    IamRolePolicy(scope, _ROLE_POLICY_ID, role=role.id, policy=policy(*statements))
    return IamInstanceProfile(scope, _PROFILE_ID, name=role.name, role=role.name)


def imdsv2(*, instance_tags: bool) -> LaunchTemplateMetadataOptions:
    """Instance metadata by session token only (IMDSv2), one hop: containers on the host get none."""
    return LaunchTemplateMetadataOptions(
        http_endpoint="enabled",
        http_tokens="required",
        http_put_response_hop_limit=1,
        instance_metadata_tags="enabled" if instance_tags else "disabled",
    )


def encrypted_root(device: str, size_gib: int) -> LaunchTemplateBlockDeviceMappings:
    """The root volume: gp3, encrypted, gone with its instance."""
    return LaunchTemplateBlockDeviceMappings(
        device_name=device,
        ebs=LaunchTemplateBlockDeviceMappingsEbs(
            volume_size=size_gib, volume_type="gp3", encrypted="true", delete_on_termination="true"
        ),
    )


def metric_query(
    id: str, metric: str, dims: Mapping[str, str], *, namespace: str = ELB_NAMESPACE, stat: str = "Sum"
) -> CloudwatchMetricAlarmMetricQuery:
    """One metric of an alarm's math expression, per minute."""
    return CloudwatchMetricAlarmMetricQuery(
        id=id,
        return_data=False,
        metric=CloudwatchMetricAlarmMetricQueryMetric(
            namespace=namespace, metric_name=metric, dimensions=dict(dims), period=PERIOD_S, stat=stat
        ),
    )


def _queue_metric(
    dimensions: Mapping[str, str] | None,
) -> AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecification | None:
    """The engines' queued requests per replica, when the fleet scales on them."""
    return None if dimensions is None else _llmdeploy_metric(metrics.QUEUE_SIZE, dimensions)


def _llmdeploy_metric(
    metric: str, dimensions: Mapping[str, str]
) -> AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecification:
    """The mean of one of llmdeploy's published series for one fleet."""
    return AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecification(
        namespace=metrics.NAMESPACE,
        metric_name=metric,
        statistic="Average",
        metric_dimension=[
            AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricDimension(
                name=key, value=value
            )
            for key, value in dimensions.items()
        ],
    )


def lifecycle_hooks(fleet: AwsFleet) -> list[AutoscalingGroupInitialLifecycleHook]:
    """The launch hook the replica completes once ready, and the termination hook it drains in.

    A replica stays in Pending:Wait, outside its target group, until its agent completes the launch
    hook ("...instances are registered with the load balancer at the end of the lifecycle hook",
    docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html). One that is not ready
    within the readiness grace is abandoned: terminated and replaced.
    Heartbeats: 30 to 7200 s (provider `initial_lifecycle_hook.heartbeat_timeout`, IntBetween).
    """
    return [
        AutoscalingGroupInitialLifecycleHook(
            name=LAUNCH_HOOK_NAME,
            lifecycle_transition="autoscaling:EC2_INSTANCE_LAUNCHING",
            heartbeat_timeout=fleet.launch_heartbeat_s,
            default_result="ABANDON",
        ),
        AutoscalingGroupInitialLifecycleHook(
            name=TERMINATION_HOOK_NAME,
            lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
            heartbeat_timeout=fleet.termination_heartbeat_s,
            default_result="CONTINUE",
        ),
    ]


def instance_statements(
    plan: AwsPlan, fleet: AwsFleet, account: Account, target_group_arn: str
) -> list[Statement]:
    """What a replica may do: finish its own lifecycle hooks, leave its own target group, read its
    own secrets, pull its images through the registry cache, publish metrics."""
    statements: list[Statement] = [
        {
            "Sid": "LeaveOwnGroup",
            "Effect": "Allow",
            # Complete (and keep alive) its own launch and termination lifecycle hooks.
            "Action": ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
            "Resource": account.arn(
                "autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{fleet.group_name}"
            ),
        },
        {
            "Sid": "LeaveOwnTargetGroup",
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:DeregisterTargets"],
            "Resource": target_group_arn,
        },
        {
            # Describe calls cannot be scoped to resources.
            "Sid": "Describe",
            "Effect": "Allow",
            "Action": ["autoscaling:DescribeAutoScalingGroups"],
            "Resource": "*",
        },
        {
            "Sid": "PublishOwnMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": metrics.NAMESPACE}},
        },
        *registry_cache_statements(account, plan.project, plan.env),
    ]
    if fleet.secrets:
        statements.append(
            {
                "Sid": "ReadOwnSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                # Secrets Manager appends six random characters to a secret's name in its ARN.
                "Resource": [
                    account.arn("secretsmanager", f"secret:{secret}-??????") for secret in fleet.secrets
                ],
            }
        )
    return statements
