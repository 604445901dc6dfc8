"""Cloud readers for membership: which replicas exist, which are ready, which are leaving.

Thin functions over each cloud's SDK client (passed in, built by the caller with the VM's identity),
taking names the plan resolved. The state rules are pure functions, so they are tested without a cloud.
"""

from __future__ import annotations

from typing import Any

from llmdeploy.routing.common import Slot
from llmdeploy.routing.membership import Replica, State

#: Auto Scaling lifecycle states of an instance on its way out (EC2 Auto Scaling user guide,
#: "Amazon EC2 Auto Scaling instance lifecycle").
_AWS_LEAVING = ("Terminating", "Terminated", "Detaching", "Detached", "EnteringStandby", "Standby")
#: MIG current actions that take an instance away (compute API, ManagedInstance.currentAction).
_GCP_LEAVING = frozenset({"ABANDONING", "DELETING", "RECREATING", "STOPPING", "SUSPENDING"})


def aws_state(lifecycle: str, target_health: str | None) -> State:
    """An ASG instance's state from its lifecycle state and its target health in the target group."""
    if lifecycle.startswith(_AWS_LEAVING) or target_health == "draining":
        return "draining"
    return "ready" if lifecycle == "InService" and target_health == "healthy" else "booting"


def gcp_state(current_action: str, health_state: str | None) -> State:
    """A MIG instance's state from its current action and the backend service's health of it."""
    if current_action in _GCP_LEAVING:
        return "draining"
    return "ready" if current_action == "NONE" and health_state == "HEALTHY" else "booting"


def azure_state(provisioning: str, health_code: str | None) -> State:
    """A scale set VM's state from its provisioning state and its application health extension."""
    if provisioning == "Deleting":
        return "draining"
    return "ready" if provisioning == "Succeeded" and health_code == "HealthState/healthy" else "booting"


def aws_target_group_arn(elbv2: Any, name: str) -> str:
    """The ARN of the target group called `name` (boto3 `elbv2`; raises TargetGroupNotFound if none)."""
    found: str = elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
    return found


def aws_replicas(
    autoscaling: Any, elbv2: Any, ec2: Any, group: str, target_group_arn: str, port: int, slot: Slot
) -> list[Replica]:
    """The replicas of one Auto Scaling group (boto3 clients: autoscaling, elbv2, ec2)."""
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    instances = found[0]["Instances"] if found else []
    if not instances:
        return []
    health = elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    states = {entry["Target"]["Id"]: entry["TargetHealth"]["State"] for entry in health}
    ids = [instance["InstanceId"] for instance in instances]
    reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    ips = {
        vm["InstanceId"]: vm["PrivateIpAddress"]
        for reservation in reservations
        for vm in reservation["Instances"]
        if "PrivateIpAddress" in vm
    }
    return [
        Replica(
            f"http://{ips[i['InstanceId']]}:{port}",
            slot,
            aws_state(i["LifecycleState"], states.get(i["InstanceId"])),
        )
        for i in instances
        if i["InstanceId"] in ips
    ]


def gcp_replicas(
    migs: Any,
    backends: Any,
    project: str,
    region: str,
    group: str,
    backend_service: str,
    port: int,
    slot: Slot,
) -> list[Replica]:
    """The replicas of one regional MIG (RegionInstanceGroupManagersClient, BackendServicesClient)."""
    manager = migs.get(project=project, region=region, instance_group_manager=group)
    actions = {
        m.instance: m.current_action
        for m in migs.list_managed_instances(project=project, region=region, instance_group_manager=group)
    }
    health = backends.get_health(
        project=project,
        backend_service=backend_service,
        resource_group_reference_resource={"group": manager.instance_group},
    )
    return [
        Replica(
            f"http://{status.ip_address}:{port}",
            slot,
            gcp_state(actions[status.instance], status.health_state),
        )
        for status in health.health_status
        if status.instance in actions
    ]


def azure_scale_set_id(compute: Any, resource_group: str, scale_set: str) -> str:
    """The resource id of a scale set (ComputeManagementClient): what a Flexible set's VMs name."""
    found: str = compute.virtual_machine_scale_sets.get(resource_group, scale_set).id
    return found


def azure_replicas(
    compute: Any, network: Any, resource_group: str, scale_set_id: str, port: int, slot: Slot
) -> list[Replica]:
    """The replicas of one Flexible scale set (ComputeManagementClient, NetworkManagementClient).

    The fleets are Flexible scale sets, whose VMs are plain VMs of the resource group: the scale set
    VM APIs (`virtualMachineScaleSets/.../virtualMachines`, NIC listing per scale set) are Uniform
    only ("Orchestration modes API comparison": Flexible lists VMs with the VM API). One call lists
    the set's VMs with their instance view (`virtualMachines.list`, `$filter` on
    `virtualMachineScaleSet/id`, `$expand=instanceView`), one the group's NICs.
    """
    vms = list(
        compute.virtual_machines.list(
            resource_group, filter=f"'virtualMachineScaleSet/id' eq '{scale_set_id}'", expand="instanceView"
        )
    )
    if not vms:
        return []
    ips = {
        nic.virtual_machine.id.lower(): nic.ip_configurations[0].private_ip_address
        for nic in network.network_interfaces.list(resource_group)
        if nic.virtual_machine is not None and nic.ip_configurations
    }
    replicas = []
    for vm in vms:
        health = vm.instance_view.vm_health if vm.instance_view else None
        code = health.status.code if health and health.status else None
        if vm.id.lower() in ips:
            replicas.append(
                Replica(f"http://{ips[vm.id.lower()]}:{port}", slot, azure_state(vm.provisioning_state, code))
            )
    return replicas
