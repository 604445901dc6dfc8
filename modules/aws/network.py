"""The AWS network: a VPC with public subnets (load balancer) and private subnets (GPU instances).

Either creates the VPC (subnets in every configured zone, a NAT gateway per zone so private
instances reach the model hub and registries, flow logs, a default security group that admits
nothing) or reads the existing VPC named in config. Security groups of the load balancer and the
instances live in `Access`, which knows the ports.
"""

from __future__ import annotations

from cdktn import Fn
from cdktn_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktn_provider_aws.data_aws_vpc import DataAwsVpc
from cdktn_provider_aws.default_security_group import DefaultSecurityGroup
from cdktn_provider_aws.eip import Eip
from cdktn_provider_aws.flow_log import FlowLog
from cdktn_provider_aws.iam_role import IamRole
from cdktn_provider_aws.iam_role_policy import IamRolePolicy
from cdktn_provider_aws.internet_gateway import InternetGateway
from cdktn_provider_aws.nat_gateway import NatGateway
from cdktn_provider_aws.route import Route
from cdktn_provider_aws.route_table import RouteTable
from cdktn_provider_aws.route_table_association import RouteTableAssociation
from cdktn_provider_aws.subnet import Subnet
from cdktn_provider_aws.vpc import Vpc
from constructs import Construct

from llmdeploy.clouds.aws.resolve import AwsNetwork
from modules.aws.account import Account, policy, service_trust

ANYWHERE = "0.0.0.0/0"
#: Private subnets are numbered after the public ones, leaving room for zones added later.


class Network(Construct):
    """The VPC and subnets the load balancer and the fleets are placed in.

    Attributes:
        vpc_id: the VPC.
        vpc_cidr: its CIDR block (the default client network of an internal endpoint).
        public_subnet_ids: one per zone, for an internet-facing load balancer.
        private_subnet_ids: one per zone, for the instances and an internal load balancer.
    """

    _EXISTING_ID = "ExistingVpc"
    _CREATED_ID = "Vpc"

    def __init__(
        self, scope: Construct, id: str, *, name: str, network: AwsNetwork, account: Account, key_arn: str
    ) -> None:
        super().__init__(scope, id)
        existing = network.existing
        if existing is not None:
            vpc = DataAwsVpc(self, self._EXISTING_ID, id=existing.vpc_id)
            self.vpc_id: str = vpc.id
            self.vpc_cidr: str = vpc.cidr_block
            self.public_subnet_ids: list[str] = list(existing.public_subnet_ids)
            self.private_subnet_ids: list[str] = list(existing.private_subnet_ids)
            return
        created = _NewVpc(
            self, self._CREATED_ID, name=name, network=network, account=account, key_arn=key_arn
        )
        self.vpc_id = created.vpc.id
        self.vpc_cidr = created.vpc.cidr_block
        self.public_subnet_ids = [zone.public.id for zone in created.zones]
        self.private_subnet_ids = [zone.private.id for zone in created.zones]


class _NewVpc(Construct):
    _VPC_ID = "Vpc"
    _DEFAULT_SG_ID = "DefaultSecurityGroup"
    _GATEWAY_ID = "InternetGateway"
    _PUBLIC_ROUTES_ID = "PublicRoutes"
    _PUBLIC_DEFAULT_ROUTE_ID = "PublicDefaultRoute"

    def __init__(
        self, scope: Construct, id: str, *, name: str, network: AwsNetwork, account: Account, key_arn: str
    ) -> None:
        super().__init__(scope, id)
        self.vpc = Vpc(
            self,
            self._VPC_ID,
            cidr_block=network.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": name},
        )
        # Owning the default group with no rules strips the rules AWS puts in it.
        DefaultSecurityGroup(self, self._DEFAULT_SG_ID, vpc_id=self.vpc.id, tags={"Name": f"{name}-default"})
        gateway = InternetGateway(self, self._GATEWAY_ID, vpc_id=self.vpc.id, tags={"Name": name})
        public_routes = RouteTable(
            self, self._PUBLIC_ROUTES_ID, vpc_id=self.vpc.id, tags={"Name": f"{name}-public"}
        )
        Route(
            self,
            self._PUBLIC_DEFAULT_ROUTE_ID,
            route_table_id=public_routes.id,
            destination_cidr_block=ANYWHERE,
            gateway_id=gateway.id,
        )
        self.zones = [
            _Zone(
                self,
                zone,
                name=name,
                vpc=self.vpc,
                newbits=network.subnet_newbits,
                index=index,
                public_routes=public_routes,
            )
            for index, zone in enumerate(network.zones)
        ]
        _FlowLogs(
            self, "FlowLogs", name=name, network=network, vpc=self.vpc, account=account, key_arn=key_arn
        )


class _Zone(Construct):
    """A public and a private subnet in one zone, and the NAT gateway the private one goes out by."""

    _PUBLIC_ID = "PublicSubnet"
    _PRIVATE_ID = "PrivateSubnet"
    _PUBLIC_ASSOCIATION_ID = "PublicRouteAssociation"
    _NAT_ADDRESS_ID = "NatAddress"
    _NAT_ID = "NatGateway"
    _PRIVATE_ROUTES_ID = "PrivateRoutes"
    _PRIVATE_DEFAULT_ROUTE_ID = "PrivateDefaultRoute"
    _PRIVATE_ASSOCIATION_ID = "PrivateRouteAssociation"

    def __init__(
        self,
        scope: Construct,
        zone: str,
        *,
        name: str,
        vpc: Vpc,
        newbits: int,
        index: int,
        public_routes: RouteTable,
    ) -> None:
        super().__init__(scope, zone)
        self.public = Subnet(
            self,
            self._PUBLIC_ID,
            vpc_id=vpc.id,
            availability_zone=zone,
            cidr_block=Fn.cidrsubnet(vpc.cidr_block, newbits, index),
            map_public_ip_on_launch=False,
            tags={"Name": f"{name}-public-{zone}"},
        )
        RouteTableAssociation(
            self, self._PUBLIC_ASSOCIATION_ID, subnet_id=self.public.id, route_table_id=public_routes.id
        )
        self.private = Subnet(
            self,
            self._PRIVATE_ID,
            vpc_id=vpc.id,
            availability_zone=zone,
            # The private subnets start in the middle of the split.
            cidr_block=Fn.cidrsubnet(vpc.cidr_block, newbits, 2**newbits // 2 + index),
            map_public_ip_on_launch=False,
            tags={"Name": f"{name}-private-{zone}"},
        )
        address = Eip(self, self._NAT_ADDRESS_ID, domain="vpc", tags={"Name": f"{name}-nat-{zone}"})
        nat = NatGateway(
            self,
            self._NAT_ID,
            allocation_id=address.allocation_id,
            subnet_id=self.public.id,
            tags={"Name": f"{name}-{zone}"},
        )
        routes = RouteTable(
            self, self._PRIVATE_ROUTES_ID, vpc_id=vpc.id, tags={"Name": f"{name}-private-{zone}"}
        )
        Route(
            self,
            self._PRIVATE_DEFAULT_ROUTE_ID,
            route_table_id=routes.id,
            destination_cidr_block=ANYWHERE,
            nat_gateway_id=nat.id,
        )
        RouteTableAssociation(
            self, self._PRIVATE_ASSOCIATION_ID, subnet_id=self.private.id, route_table_id=routes.id
        )


class _FlowLogs(Construct):
    """All VPC traffic records into an encrypted log group, written by a role that can do only that."""

    _LOG_GROUP_ID = "LogGroup"
    _ROLE_ID = "Role"
    _ROLE_POLICY_ID = "RolePolicy"
    _FLOW_LOG_ID = "FlowLog"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        network: AwsNetwork,
        vpc: Vpc,
        account: Account,
        key_arn: str,
    ) -> None:
        super().__init__(scope, id)
        group = CloudwatchLogGroup(
            self,
            self._LOG_GROUP_ID,
            name=network.flow_log_group,
            retention_in_days=network.flow_log_retention_days,
            kms_key_id=key_arn,
        )
        role = IamRole(
            self,
            self._ROLE_ID,
            name=network.flow_log_role,
            assume_role_policy=service_trust("vpc-flow-logs.amazonaws.com", account),
        )
        IamRolePolicy(
            self,
            self._ROLE_POLICY_ID,
            role=role.id,
            policy=policy(
                {
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogGroups",
                        "logs:DescribeLogStreams",
                    ],
                    "Resource": [group.arn, f"{group.arn}:*"],
                }
            ),
        )
        FlowLog(
            self,
            self._FLOW_LOG_ID,
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            # AWS default: a record per flow every 10 minutes, not every minute (a tenth of the records).
            max_aggregation_interval=600,
            tags={"Name": name},
        )
