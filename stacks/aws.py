"""The AWS stack of one environment (`<env>-aws`): network, access, load balancer, fleets, monitoring.

Every value comes from the resolved plan (llmdeploy/clouds/aws/resolve.py), resolved once here.

Outputs (`status` finds everything by resolved name and reads none; the promotion gates read
`fleets` and `load_balancer_arn_suffix`; the global DNS stack reads `endpoints`):
    endpoints: model name -> endpoint URL: on access.tls.domain (or the models' hosts) when
        `clouds.aws.dns_zone` holds their records (modules/aws/dns.py), else on the load balancer's name.
    fleets: `<model>-<slot>` -> {model, slot, weight, asg_name, target_group_arn,
        launch_template_id, alarm_names (every alarm), gate_alarm_names (those that judge a release)}.
    listener_arn: the listener carrying the model routes.
    listener_rule_arns: model name -> its listener rule.
    load_balancer_arn_suffix: the `app/<name>/<id>` CloudWatch dimension.
    alarm_topic_arn: where alarms notify.
    router_endpoint: with `routing.enabled`, `<scheme>://<the routers' load balancer>` (the models'
        paths, or their hosts pointed at it, go through the router group). With `clouds.aws.dns_zone`
        clients use `endpoints` instead: its names answer the routers while one is healthy, then the
        fleets' load balancer.
"""

from __future__ import annotations

from cdktn import TerraformOutput, TerraformStack, TerraformVariable
from cdktn_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktn_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from llmdeploy.clouds.aws.resolve import AwsPlan, resolve
from llmdeploy.plan.model import CloudPlan, DeploymentPlan
from modules.aws import Access, GpuFleet, LoadBalancer, Monitoring, Network
from modules.aws.access_logs import AccessLogBucket
from modules.aws.account import Account
from modules.aws.addresses import tag_addresses
from modules.aws.dns import Dns
from modules.aws.encryption import EncryptionKey
from modules.aws.engine_logs import EngineLogs
from modules.aws.gpu_fleet import FleetRefs
from modules.aws.registry_cache import RegistryCache
from modules.aws.router_group import RouterGroup, RouterRefs

#: hashicorp/aws versions the synthesized JSON accepts: the 5.100 mirror on offline machines and 6.x.
PROVIDER_VERSIONS = ">= 5.100, < 7.0"
#: `terraform apply -var aws_local_emulator=true` skips the checks a local emulator need not answer.
EMULATOR_VARIABLE = "aws_local_emulator"
PROVIDER_ID = "aws"


class AwsStack(TerraformStack):
    """Everything one environment deploys on AWS."""

    _ACCOUNT_ID = "Account"
    _KEY_ID = "EncryptionKey"
    _NETWORK_ID = "Network"
    _ACCESS_ID = "Access"
    _LOGS_ID = "AccessLogs"
    _LB_ID = "LoadBalancer"
    _IMAGE_ID = "GpuImage"
    _MONITORING_ID = "Monitoring"
    _CACHE_ID = "RegistryCache"
    _ROUTERS_ID = "Routers"
    _VM_LOGS_ID = "VmLogs"
    _DNS_ID = "Dns"

    def __init__(self, scope: Construct, plan: DeploymentPlan, cloud: CloudPlan) -> None:
        super().__init__(scope, cloud.stack)
        aws = resolve(plan)
        configure_aws_provider(self, plan, region=aws.region, account_id=aws.account_id)
        name = aws.prefix
        account = Account(self, self._ACCOUNT_ID, region=aws.region)
        key = EncryptionKey(self, self._KEY_ID, name=name, alias=aws.key_alias, account=account)
        network = Network(
            self, self._NETWORK_ID, name=name, network=aws.network, account=account, key_arn=key.arn
        )
        access = Access(self, self._ACCESS_ID, plan=aws, network=network)
        logs = AccessLogBucket(
            self, self._LOGS_ID, bucket_prefix=aws.access_log_bucket_prefix, account=account
        )
        lb = LoadBalancer(self, self._LB_ID, plan=aws, network=network, access=access, logs=logs)
        vm_logs = (
            EngineLogs(self, self._VM_LOGS_ID, logs=aws.vm_logs, key_arn=key.arn) if aws.vm_logs else None
        )
        image = DataAwsSsmParameter(self, self._IMAGE_ID, name=aws.ami_parameter)
        # Docker Hub and ghcr.io get a rule only with a credential (clouds.aws.registry_credentials).
        RegistryCache(
            self, self._CACHE_ID, project=aws.project, env=aws.env, credentials=aws.registry_credentials
        )
        groups = {
            fleet.name: GpuFleet(
                self,
                fleet.name,
                plan=aws,
                fleet=fleet,
                refs=FleetRefs(
                    account=account,
                    image_id=image.insecure_value,
                    subnet_ids=network.private_subnet_ids,
                    security_group_id=access.instance_group_id,
                    target_group=lb.target_groups[fleet.name],
                    load_balancer_arn_suffix=lb.arn_suffix,
                    log_group_arn=vm_logs.arn if vm_logs else None,
                ),
            )
            for fleet in aws.fleets
        }
        monitoring = Monitoring(
            self,
            self._MONITORING_ID,
            plan=aws,
            key_arn=key.arn,
            load_balancer_arn_suffix=lb.arn_suffix,
            fleets=list(groups.values()),
        )
        TerraformOutput(
            self,
            "fleets",
            description="Per fleet (<model>-<slot>): group, target group, template, alarms, gate alarms.",
            value={
                fleet.name: {
                    "model": fleet.model,
                    "slot": fleet.slot,
                    "weight": fleet.weight,
                    "asg_name": groups[fleet.name].group_name,
                    "target_group_arn": lb.target_groups[fleet.name].arn,
                    "launch_template_id": groups[fleet.name].launch_template_id,
                    "alarm_names": monitoring.alarm_names[fleet.name],
                    "gate_alarm_names": monitoring.gate_alarm_names[fleet.name],
                }
                for fleet in aws.fleets
            },
        )
        TerraformOutput(self, "listener_arn", value=lb.listener_arn)
        TerraformOutput(self, "listener_rule_arns", value=lb.rule_arns)
        TerraformOutput(self, "load_balancer_arn_suffix", value=lb.arn_suffix)
        TerraformOutput(self, "alarm_topic_arn", value=monitoring.topic_arn)
        routers = None
        if aws.routers is not None:
            routers = RouterGroup(
                self,
                self._ROUTERS_ID,
                plan=aws,
                routers=aws.routers,
                refs=RouterRefs(account=account, network=network, access=access, logs=logs),
            )
            TerraformOutput(
                self,
                "router_endpoint",
                value=routers.endpoint,
                description="The router group's load balancer: the models' routes through the routers.",
            )
        self._endpoints(aws, lb, routers)
        tag_addresses(self)  # last: every resource exists by now

    def _endpoints(self, aws: AwsPlan, lb: LoadBalancer, routers: RouterGroup | None) -> None:
        """The `endpoints` output: on the zone's names when `clouds.aws.dns_zone` is set (their records
        fail over from the routers to the fleets' load balancer), else on the load balancer's name."""
        endpoints = lb.endpoints
        if aws.dns is not None:
            endpoints = Dns(
                self,
                self._DNS_ID,
                plan=aws.dns,
                routes=aws.load_balancer.routes,
                direct=lb.alias,
                routers=routers.alias if routers else None,
            ).endpoints
        TerraformOutput(self, "endpoints", value=endpoints, description="Endpoint URL per model.")


def configure_aws_provider(
    stack: TerraformStack, plan: DeploymentPlan, *, region: str, account_id: str | None
) -> None:
    """The AWS provider of a stack, with the emulator switch (also used by the global DNS stack)."""
    emulator = TerraformVariable(
        stack,
        EMULATOR_VARIABLE,
        type="bool",
        default=False,
        description="true when applying to a local AWS emulator: skips account and metadata checks",
    )
    AwsProvider(
        stack,
        PROVIDER_ID,
        region=region,
        allowed_account_ids=[account_id] if account_id else None,
        default_tags=[AwsProviderDefaultTags(tags=plan.tags)],
        # The account id is still requested (emulators answer STS): security group rules
        # read back with an unknown account id name their peer group `<account>/<id>`.
        skip_credentials_validation=emulator.boolean_value,
        skip_metadata_api_check=emulator.string_value,
    )
    # The prebuilt bindings pin one exact provider version; accept the range we test with.
    stack.add_override("terraform.required_providers.aws.version", PROVIDER_VERSIONS)
