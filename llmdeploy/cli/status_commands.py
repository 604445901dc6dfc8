"""`llmdeploy status ENV`: per model, cloud and slot, what runs, what is healthy and what it costs;
with routing enabled, the router group of each cloud and what it does with each model's requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from llmdeploy.boot import logs
from llmdeploy.catalog import Cloud
from llmdeploy.cli.app import DEFAULT_ENV_DIR, EnvDir, app, err, out, reported
from llmdeploy.cli.deploy_commands import (
    DEFAULT_OUTDIR,
    CloudOption,
    Local,
    Outdir,
    StackTarget,
    environ_of,
    stack_targets,
)
from llmdeploy.cli.progress import terraform_progress
from llmdeploy.clouds import driver
from llmdeploy.clouds.contract import StackAccess
from llmdeploy.config import load
from llmdeploy.deploy import chosen_clouds
from llmdeploy.errors import OperationError
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.cost import mix_usd_hour
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from llmdeploy.status.model import RouterGroupStatus, SlotStatus
from llmdeploy.status.routers import headline

if TYPE_CHECKING:
    from llmdeploy.status.dns import DnsEndpointStatus

#: The SDK package each cloud's status reader needs, and the extra that installs it.
_SDK_HINTS: dict[Cloud, str] = {
    "aws": "boto3 (pip install -e '.[local]')",
    "gcp": "google-cloud-compute (pip install -e '.[gcp]')",
    "azure": "azure-mgmt-compute and azure-mgmt-cdn (pip install -e '.[azure]')",
}


@app.command()
@reported
def status(
    env: Annotated[str, typer.Argument(help="Environment name (in --env-dir) or file path.")],
    env_dir: EnvDir = DEFAULT_ENV_DIR,
    cloud: CloudOption = None,
    local: Local = False,
    outdir: Outdir = DEFAULT_OUTDIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Desired/running/healthy instances, spot vs on-demand, traffic weight, endpoint and USD/hour."""
    plan = build_plan(load(env, env_dir))
    clouds = [entry.cloud for entry in chosen_clouds(plan, env, cloud, local)]
    slots = [slot for entry in clouds for slot in read_slots(env, plan, entry, env_dir, outdir, local)]
    found = [read_routers(env, plan, entry, env_dir, outdir, local) for entry in clouds]
    routers = [group for group in found if group is not None]
    # The global name spans every cloud: shown only when they all are.
    dns = _read_dns(env, env_dir, outdir, local) if plan.global_dns and cloud is None else []
    if as_json:
        out.print_json(json.dumps(status_json(plan, slots, dns, routers)))
        return
    out.print(status_table(plan, slots))
    for group in routers:
        out.print(routers_line(group))
        out.print(routers_table(plan, group))
    for shown in clouds:
        out.print(f"{shown} VM logs: {logs.where(plan, shown)}", markup=False)
    if dns:
        out.print(dns_table(plan, dns))


def fleet_of(plan: DeploymentPlan, slot: SlotStatus) -> FleetPlan:
    return next(
        fleet for fleet in plan.fleets_on(slot.cloud) if (fleet.model, fleet.slot) == (slot.model, slot.slot)
    )


def usd_hour(plan: DeploymentPlan, slot: SlotStatus) -> float:
    """Estimated cost of the running instances, at list prices, spot and on-demand as they run."""
    return mix_usd_hour(fleet_of(plan, slot), slot.on_demand, slot.spot)


def status_table(plan: DeploymentPlan, slots: list[SlotStatus]) -> Table:
    table = Table(title=f"{plan.env}: status")
    columns = ("model", "cloud", "slot", "desired", "running", "healthy", "spot", "on-demand", "weight")
    for column in (*columns, "endpoint", "USD/hour"):
        table.add_column(column, justify="right" if column in columns[3:] or column == "USD/hour" else "left")
    for slot in slots:
        unhealthy = slot.healthy < slot.running
        table.add_row(
            slot.model,
            slot.cloud,
            slot.slot,
            str(slot.desired),
            str(slot.running),
            f"[red]{slot.healthy}[/]" if unhealthy else str(slot.healthy),
            str(slot.spot),
            str(slot.on_demand),
            f"{slot.weight}%",
            slot.endpoint or "-",
            f"{usd_hour(plan, slot):.2f}",
        )
    total = sum(usd_hour(plan, slot) for slot in slots)
    table.add_section()
    table.add_row("total", *[""] * 9, f"{total:.2f}")
    return table


def status_json(
    plan: DeploymentPlan,
    slots: list[SlotStatus],
    dns: list[DnsEndpointStatus] | None = None,
    routers: list[RouterGroupStatus] | None = None,
) -> dict[str, Any]:
    fleets = [asdict(slot) | {"usd_hour": round(usd_hour(plan, slot), 4)} for slot in slots]
    found: dict[str, Any] = {
        "env": plan.env,
        "fleets": fleets,
        "usd_hour": round(sum(entry["usd_hour"] for entry in fleets), 4),
    }
    if routers:
        found["routers"] = [asdict(group) | {"summary": headline(group)} for group in routers]
    if dns and plan.global_dns:
        found["global_dns"] = {
            "fqdn": plan.global_dns.fqdn,
            "endpoints": [asdict(entry) | {"answers": _answers(plan, entry.cloud)} for entry in dns],
        }
    return found


def routers_line(group: RouterGroupStatus) -> str:
    """The router tier in one line: red when no router is healthy, yellow when some are not."""
    line = escape(headline(group))
    if not group.exists or group.healthy == 0:
        return f"[red]{line}[/]"
    return f"[yellow]{line}[/]" if group.healthy < group.desired else line


def routers_table(plan: DeploymentPlan, group: RouterGroupStatus) -> Table:
    """Per model: requests held now, 429s and queue time over the window ("-": no data published)."""
    minutes = group.window_minutes
    title = f"{plan.env}: routers on {group.cloud}" + (f" ({group.endpoint})" if group.endpoint else "")
    table = Table(title=title)
    table.add_column("model")
    for column in ("held now", f"429s ({minutes} min)", f"queue ms mean ({minutes} min)", "queue ms max"):
        table.add_column(column, justify="right")
    for model in group.models:
        table.add_row(
            model.model,
            _shown(model.held),
            f"[red]{model.rejected}[/]" if model.rejected else _shown(model.rejected),
            _shown(model.queue_ms),
            _shown(model.queue_max_ms),
        )
    return table


def _shown(value: float | None) -> str:
    return "-" if value is None else str(value)


def dns_table(plan: DeploymentPlan, dns: list[DnsEndpointStatus]) -> Table:
    """Which cloud the global name answers with, and whether Route 53 finds it healthy."""
    assert plan.global_dns is not None
    table = Table(title=f"global DNS: {plan.global_dns.fqdn}")
    for column in ("cloud", "answers", "health check", "Route 53 says"):
        table.add_column(column)
    shown = {True: "healthy", False: "[red]unhealthy[/]", None: "no data yet"}
    for entry in dns:
        table.add_row(entry.cloud, _answers(plan, entry.cloud), entry.health_check_id, shown[entry.healthy])
    return table


def _answers(plan: DeploymentPlan, cloud: str) -> str:
    """The cloud's part in the global name's answers: primary, secondary, or its weight."""
    assert plan.global_dns is not None
    record = next(record for record in plan.global_dns.records if record.cloud == cloud)
    if record.failover is not None:
        return record.failover.lower()
    nested = record.name != plan.global_dns.fqdn
    return f"{'secondary, ' if nested else ''}weight {record.weight}"


def read_slots(
    env: str, plan: DeploymentPlan, cloud: Cloud, env_dir: Path, outdir: Path, local: bool
) -> list[SlotStatus]:
    access = _access(env, plan, cloud, env_dir, outdir, local)
    with _sdk_needed(cloud):
        return driver(cloud).read_status(plan, access)


def read_routers(
    env: str, plan: DeploymentPlan, cloud: Cloud, env_dir: Path, outdir: Path, local: bool
) -> RouterGroupStatus | None:
    """The cloud's router group and its metrics; None when routing is off."""
    access = _access(env, plan, cloud, env_dir, outdir, local)
    with _sdk_needed(cloud):
        return driver(cloud).read_routers(plan, access)


def _access(
    env: str, plan: DeploymentPlan, cloud: Cloud, env_dir: Path, outdir: Path, local: bool
) -> StackAccess:
    def outputs() -> dict[str, object]:
        (target,) = [entry for entry in stack_targets(env, env_dir, outdir, cloud, local) if entry.cloud]
        return _outputs(target)

    return StackAccess(plan.cloud(cloud).stack, environ_of(local), outputs)


@contextmanager
def _sdk_needed(cloud: Cloud) -> Iterator[None]:
    try:
        yield
    except ImportError as error:
        raise OperationError(
            f"Cannot read the {cloud} status: {error.name} is not installed. Install {_SDK_HINTS[cloud]}, "
            "then retry."
        ) from error


def _read_dns(env: str, env_dir: Path, outdir: Path, local: bool) -> list[DnsEndpointStatus]:
    from llmdeploy.status.dns import read_dns_status

    (target,) = [entry for entry in stack_targets(env, env_dir, outdir, None, local) if entry.cloud is None]
    outputs = _outputs(target)
    return read_dns_status(target.stack, outputs, target.environ)


def _outputs(target: StackTarget) -> dict[str, object]:
    """The stack's Terraform outputs, read from its state."""
    with terraform_progress(err, target.stack, "output") as on_message:
        target.runner.on_message = on_message
        target.runner.init()
        return target.runner.output()
