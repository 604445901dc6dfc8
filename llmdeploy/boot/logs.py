"""The VM's logs in its cloud's log service: what is shipped, by which agent, to which destination.

Every llmdeploy process on a GPU VM logs to the journal, which stays the local copy (`journalctl -t
llmdeploy-engine`), bounded by `JOURNAL_MAX_USE`: the engine and proxy containers through docker's
journald driver (SYSLOG_IDENTIFIER `llmdeploy-engine`, `llmdeploy-proxy`), the bootstrap and image
pulls through `logger --tag llmdeploy`, the agents and the steps before the engine as their units'
output. Each cloud's documented agent reads those entries from the journal and ships them:

- AWS: the CloudWatch agent, which reads the journal itself since 1.300070.0 ("[Logs] Add journald
  log collection support", aws/amazon-cloudwatch-agent RELEASE_NOTES, 2026-06-19;
  `logs.logs_collected.journald.collect_list`). The Deep Learning AMI does not ship it, so the VM
  installs the pinned release from AWS's bucket after checking AWS's signature on it.
- GCP: the Ops Agent's `systemd_journald` receiver (its log name is the receiver id), installed
  pinned from Google's apt repository; its default syslog and host-metrics pipelines are turned
  off, so nothing is shipped twice or billed unasked.
- Azure: the Azure Monitor Agent VM extension with a data collection rule (modules/azure/
  engine_logs.py): it collects syslog, which the image's rsyslog receives from the journal, and the
  rule keeps only llmdeploy's identifiers (every llmdeploy unit sets `SyslogIdentifier=llmdeploy-*`).
  Nothing is installed at boot.

The destination names live here, for the VM's configuration and the constructs that create them.
No configuration written here holds a secret: only destination names and journal field matches.
"""

from __future__ import annotations

import json

import yaml

from llmdeploy.catalog import Cloud
from llmdeploy.plan.endpoints import stack_prefix
from llmdeploy.plan.model import DeploymentPlan, FleetPlan

#: Clouds whose VMs install their shipping agent at boot (Azure's is a VM extension).
BOOT_INSTALLED: tuple[Cloud, ...] = ("aws", "gcp")
#: SYSLOG_IDENTIFIER of what llmdeploy writes to the journal besides its units' own output.
IDENTIFIERS = ("llmdeploy", "llmdeploy-engine", "llmdeploy-proxy")
#: The units whose output is shipped besides the agents (llmdeploy.boot.context.agent_units).
UNITS = ("llmdeploy-engine", "llmdeploy-proxy", "llmdeploy-drain")
#: The journal's own bound on the VM (journald.conf `SystemMaxUse=`): the oldest files go first.
JOURNAL_MAX_USE = "2G"
JOURNALD_DROP_IN = "/etc/systemd/journald.conf.d/llmdeploy.conf"

#: The CloudWatch agent release installed on AWS VMs: the newest on record (2026-07-22); journald
#: collection needs 1.300070.0 or later.
CLOUDWATCH_AGENT_VERSION = "1.300071.0"
#: The fingerprint of the key AWS signs the CloudWatch agent packages with (CloudWatch user guide,
#: "Verify the signature of the CloudWatch agent package").
CLOUDWATCH_AGENT_KEY = "937616F3450B7D806CBD9725D58167303B789C72"
CLOUDWATCH_AGENT_CONFIG = "/etc/llmdeploy/cloudwatch-agent.json"

#: The Ops Agent release installed on GCP VMs (GoogleCloudPlatform/ops-agent tag 2.70.0, the newest).
OPS_AGENT_VERSION = "2.70.0"
#: Ours, copied over the package's /etc/google-cloud-ops-agent/config.yaml once it is installed (written
#: there first, the package's own conffile would stop dpkg at a prompt).
OPS_AGENT_CONFIG = "/etc/llmdeploy/ops-agent.yaml"


def ships(plan: DeploymentPlan) -> bool:
    """Whether this environment's VMs ship their logs."""
    return plan.monitoring.logs.ship


def installs_agent(plan: DeploymentPlan, cloud: Cloud) -> bool:
    """Whether the boot bundle installs and configures the shipping agent."""
    return ships(plan) and cloud in BOOT_INSTALLED


def aws_log_group(plan: DeploymentPlan) -> str:
    """The CloudWatch Logs group of the environment's VM logs."""
    return f"/llmdeploy/{stack_prefix(plan)}/vm-logs"


def gcp_log_id(plan: DeploymentPlan) -> str:
    """The Cloud Logging log id the Ops Agent writes (its receiver id): `logName` is
    `projects/<project>/logs/<this>`, which the environment's log sink routes to its bucket."""
    return f"{stack_prefix(plan)}-vm-logs"


def azure_workspace(plan: DeploymentPlan) -> str:
    """The Log Analytics workspace (and data collection rule) of the environment's VM logs."""
    return f"{stack_prefix(plan)}-vm-logs"


def shipped_units(agents: list[str]) -> list[str]:
    """The systemd units whose journal output is shipped: the engine's, proxy's, drain's and the
    fleet's agents' (`agents`, llmdeploy.boot.context.agent_units)."""
    return [f"{unit}.service" for unit in (*UNITS, *agents)]


def journald_drop_in() -> str:
    return (
        f"# llmdeploy: the journal keeps at most {JOURNAL_MAX_USE}, oldest first.\n"
        f"[Journal]\nSystemMaxUse={JOURNAL_MAX_USE}\n"
    )


def cloudwatch_agent_config(plan: DeploymentPlan, agents: list[str]) -> str:
    """The CloudWatch agent's JSON: the journal entries of llmdeploy's containers, scripts and units,
    one stream per instance, into the environment's group. Match objects are OR-ed (journalctl's
    `A + B`); the schema (translator/config/schema.json, v1.300071.0) takes log_group_name,
    log_stream_name, units, priority, matches."""
    matches = [{"SYSLOG_IDENTIFIER": name} for name in IDENTIFIERS] + [
        {"_SYSTEMD_UNIT": unit} for unit in shipped_units(agents)
    ]
    entry = {
        "log_group_name": aws_log_group(plan),
        "log_stream_name": "{instance_id}",
        "priority": "info",
        "matches": matches,
    }
    return json.dumps({"logs": {"logs_collected": {"journald": {"collect_list": [entry]}}}}) + "\n"


def ops_agent_config(plan: DeploymentPlan) -> str:
    """The Ops Agent's YAML: the journal through one receiver (its id is the log id), keeping only
    llmdeploy's entries; the built-in syslog file and host metrics pipelines off (Ops Agent
    configuration: "receivers: []" disables a default pipeline)."""
    receiver = gcp_log_id(plan)
    ours = [f'jsonPayload.SYSLOG_IDENTIFIER = "{name}"' for name in IDENTIFIERS]
    ours.append('jsonPayload."_SYSTEMD_UNIT" =~ "^llmdeploy-"')
    config = {
        "logging": {
            "receivers": {receiver: {"type": "systemd_journald"}},
            "processors": {
                # A missing field compares false (ops-agent confgenerator/filter), so NOT(...) drops
                # entries that have neither field.
                "only-llmdeploy": {"type": "exclude_logs", "match_any": [f"NOT ({' OR '.join(ours)})"]},
            },
            "service": {
                "pipelines": {
                    "default_pipeline": {"receivers": []},
                    receiver: {"receivers": [receiver], "processors": ["only-llmdeploy"]},
                }
            },
        },
        "metrics": {"service": {"pipelines": {"default_pipeline": {"receivers": []}}}},
    }
    return yaml.safe_dump(config, sort_keys=False, width=1000)


def log_files(plan: DeploymentPlan, fleet: FleetPlan, agents: list[str]) -> dict[str, str]:
    """The shipping agent's configuration and the journal's bound, by path on the VM (`agents`: the
    fleet's agent units)."""
    files = {JOURNALD_DROP_IN: journald_drop_in()}
    if fleet.cloud == "aws" and ships(plan):
        files[CLOUDWATCH_AGENT_CONFIG] = cloudwatch_agent_config(plan, agents)
    if fleet.cloud == "gcp" and ships(plan):
        files[OPS_AGENT_CONFIG] = ops_agent_config(plan)
    return files


def template_settings(plan: DeploymentPlan, cloud: Cloud) -> dict[str, object]:
    """What the bootstrap and `llmdeploy-ship-logs` are told (templates/README.md)."""
    aws = cloud == "aws"
    return {
        "ship_logs": installs_agent(plan, cloud),
        "log_service": "CloudWatch Logs" if aws else "Cloud Logging",
        "agent_version": CLOUDWATCH_AGENT_VERSION if aws else OPS_AGENT_VERSION,
        "agent_key": CLOUDWATCH_AGENT_KEY,
        "agent_config": CLOUDWATCH_AGENT_CONFIG if aws else OPS_AGENT_CONFIG,
    }


def where(plan: DeploymentPlan, cloud: Cloud) -> str:
    """Where an operator finds the VMs' logs (for status and the README)."""
    if not ships(plan):
        return "on each VM: journalctl -t llmdeploy-engine"
    if cloud == "aws":
        return f"CloudWatch Logs group {aws_log_group(plan)} (one stream per instance)"
    if cloud == "gcp":
        return f"Cloud Logging log {gcp_log_id(plan)} (bucket {gcp_log_id(plan)})"
    return f"Log Analytics workspace {azure_workspace(plan)}, table Syslog (ProcessName llmdeploy*)"
