"""VM logs: bounded in the journal, shipped by each cloud's agent, never with a secret."""

from __future__ import annotations

import configparser
import dataclasses
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from llmdeploy.boot import boot_files, logs
from llmdeploy.catalog import Cloud
from llmdeploy.config.logs import Logs
from llmdeploy.plan.model import DeploymentPlan
from tests.boot.bundles import first_fleet, plan
from tests.boot.test_render import _run_bootstrap
from tests.tools import venv_tool

#: The journald part of the CloudWatch agent's own config schema (v1.300071.0, see its $comment).
SCHEMA = Path(__file__).parent / "data" / "cloudwatch-agent-journald.schema.json"
SHIP_SCRIPT = "/usr/local/sbin/llmdeploy-ship-logs"


def _without_shipping(env: str) -> DeploymentPlan:
    base = plan(env)
    return dataclasses.replace(base, monitoring=base.monitoring.model_copy(update={"logs": Logs(ship=False)}))


def _units(files: dict[str, str]) -> set[str]:
    return {
        Path(path).name for path in files if re.fullmatch(r"/etc/systemd/system/llmdeploy-.*\.service", path)
    }


@pytest.mark.process
def test_cloudwatch_agent_config_is_valid_for_the_pinned_agent(tmp_path: Path) -> None:
    binary = venv_tool("check-jsonschema")
    assert binary is not None, "check-jsonschema comes with the dev extras"
    files = boot_files(plan("prod"), first_fleet("prod", "aws"))
    written = tmp_path / "cloudwatch-agent.json"
    written.write_text(files[logs.CLOUDWATCH_AGENT_CONFIG])
    checked = subprocess.run(
        [binary, "--schemafile", str(SCHEMA), str(written)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (entry,) = json.loads(written.read_text())["logs"]["logs_collected"]["journald"]["collect_list"]
    assert entry["log_group_name"] == "/llmdeploy/llmdeploy-demo-prod/vm-logs"
    assert entry["log_stream_name"] == "{instance_id}"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_cloudwatch_agent_ships_every_llmdeploy_unit_and_container(env: str) -> None:
    files = boot_files(plan(env), first_fleet(env, "aws"))
    (entry,) = json.loads(files[logs.CLOUDWATCH_AGENT_CONFIG])["logs"]["logs_collected"]["journald"][
        "collect_list"
    ]
    matched = {(key, value) for match in entry["matches"] for key, value in match.items()}
    assert {("_SYSTEMD_UNIT", unit) for unit in _units(files)} <= matched
    # The containers log through docker's journald driver under their tags, the scripts through logger.
    engine = files["/usr/local/sbin/llmdeploy-engine"]
    proxy = files["/etc/systemd/system/llmdeploy-proxy.service"]
    assert "--log-driver journald --log-opt tag=llmdeploy-engine" in engine
    assert "--log-driver journald --log-opt tag=llmdeploy-proxy" in proxy
    for tag in ("llmdeploy", "llmdeploy-engine", "llmdeploy-proxy"):
        assert ("SYSLOG_IDENTIFIER", tag) in matched


def test_ops_agent_reads_the_journal_into_the_environments_log_and_nothing_else() -> None:
    files = boot_files(plan("prod"), first_fleet("prod", "gcp"))
    config = yaml.safe_load(files[logs.OPS_AGENT_CONFIG])
    log_id = logs.gcp_log_id(plan("prod"))
    assert config["logging"]["receivers"] == {log_id: {"type": "systemd_journald"}}
    pipelines = config["logging"]["service"]["pipelines"]
    # The built-in syslog-file pipeline would ship every engine line a second time; host metrics bill.
    assert pipelines["default_pipeline"] == {"receivers": []}
    assert config["metrics"]["service"]["pipelines"]["default_pipeline"] == {"receivers": []}
    (processor,) = pipelines[log_id]["processors"]
    (condition,) = config["logging"]["processors"][processor]["match_any"]
    assert config["logging"]["processors"][processor]["type"] == "exclude_logs"
    assert condition.startswith("NOT (") and all(f'"{tag}"' in condition for tag in logs.IDENTIFIERS)
    # Installed over the package's own config only after the pinned package is in place.
    script = files[SHIP_SCRIPT]
    assert script.index('install -y -q "google-cloud-ops-agent=$exact"') < script.index(
        "/etc/google-cloud-ops-agent/config.yaml"
    )
    assert f"version={logs.OPS_AGENT_VERSION}" in script


def test_aws_installs_the_pinned_agent_only_once_awss_key_signed_it() -> None:
    script = boot_files(plan("prod"), first_fleet("prod", "aws"))[SHIP_SCRIPT]
    assert f"version={logs.CLOUDWATCH_AGENT_VERSION}" in script and "latest" not in script
    assert f"fingerprint={logs.CLOUDWATCH_AGENT_KEY}" in script
    assert script.index("VALIDSIG") < script.index("dpkg -i") < script.index("fetch-config")
    assert "set -euo pipefail" in script


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_the_journal_is_bounded_on_every_vm(cloud: Cloud) -> None:
    files = boot_files(plan("prod"), first_fleet("prod", cloud))
    parser = configparser.ConfigParser()
    parser.read_string(files[logs.JOURNALD_DROP_IN])
    assert parser["Journal"]["SystemMaxUse"] == logs.JOURNAL_MAX_USE
    bootstrap = files["/usr/local/sbin/llmdeploy-bootstrap"]
    assert bootstrap.index("systemctl restart systemd-journald") < bootstrap.index("systemctl enable")


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_no_secret_reaches_a_log_configuration(cloud: Cloud) -> None:
    prod = plan("prod")
    files = boot_files(prod, first_fleet("prod", cloud))
    secrets = {"llmdeploy-prod-api-key", "llmdeploy-prod-hf-token", "HF_TOKEN", "API_KEY"}
    for path in (logs.CLOUDWATCH_AGENT_CONFIG, logs.OPS_AGENT_CONFIG, SHIP_SCRIPT, logs.JOURNALD_DROP_IN):
        if path in files:
            assert not any(secret in files[path] for secret in secrets), path


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_shipping_off_leaves_the_logs_on_the_vm(cloud: Cloud) -> None:
    files = boot_files(_without_shipping("prod"), first_fleet("prod", cloud))
    assert SHIP_SCRIPT not in files
    assert logs.CLOUDWATCH_AGENT_CONFIG not in files and logs.OPS_AGENT_CONFIG not in files
    assert "llmdeploy-ship-logs" not in files["/usr/local/sbin/llmdeploy-bootstrap"]
    assert logs.JOURNALD_DROP_IN in files


def test_azure_vms_install_nothing_the_scale_set_extension_ships_their_syslog() -> None:
    files = boot_files(plan("prod"), first_fleet("prod", "azure"))
    assert SHIP_SCRIPT not in files and logs.ships(plan("prod"))
    # The data collection rule keeps ProcessName llmdeploy*: every unit names itself so.
    for unit in _units(files):
        assert f"SyslogIdentifier={unit.removesuffix('.service')}\n" in files[f"/etc/systemd/system/{unit}"]


def test_status_says_where_each_clouds_logs_are() -> None:
    prod = plan("prod")
    assert (
        logs.where(prod, "aws")
        == "CloudWatch Logs group /llmdeploy/llmdeploy-demo-prod/vm-logs (one stream per instance)"
    )
    assert "bucket llmdeploy-demo-prod-vm-logs" in logs.where(prod, "gcp")
    assert logs.where(prod, "azure").startswith(
        "Log Analytics workspace llmdeploy-demo-prod-vm-logs, table Syslog"
    )
    assert logs.where(_without_shipping("prod"), "aws") == "on each VM: journalctl -t llmdeploy-engine"


@pytest.mark.process
def test_a_failed_shipping_setup_warns_and_the_replica_still_starts(tmp_path: Path) -> None:
    """Here /usr/local/sbin/llmdeploy-ship-logs does not exist: it fails as a broken download would."""
    files = boot_files(plan("prod"), first_fleet("prod", "aws"))
    result = _run_bootstrap(files, tmp_path, {"nvidia-container-cli": "exit 0", "python3": "exit 0"})
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert (
        "logger --tag llmdeploy --priority user.warning -- logs are not shipped to CloudWatch Logs" in calls
    )
    assert "systemctl enable --now --no-block llmdeploy-proxy.service llmdeploy-engine.service" in calls
