"""The Azure stack of every example environment naming Azure: provider, backend, outputs, snapshots,
checkov, terraform validate, no secrets, and a readable refusal without a Key Vault."""

from __future__ import annotations

import base64
import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from llmdeploy.clouds.azure.names import RESOURCE_PROVIDERS
from stacks.azure import PROVIDER_VERSIONS, TLS_PROVIDER
from tests.conftest import EXAMPLE_NAMES, EXAMPLES, REPO
from tests.fixtures_clouds import synth_environment
from tests.fixtures_synth import Stack
from tests.modules.cloud_stacks import checkov_report, leaks, validate
from tests.stacks.golden import snapshot_mismatches

NO_VAULT_ENV = """\
project: demo
clouds:
  azure: {subscription_id: 00000000-0000-0000-0000-000000000000, location: eastus, zones: ["1"]}
models:
  - name: chat
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    dtype: float16
    hf_token: {secret: chat-hf-token}
    instance_types: {azure: [Standard_NC4as_T4_v3]}
    load_balancing: {algorithm: round_robin}
"""


def test_every_example_naming_azure_synthesizes(azure_stacks: dict[str, Stack]) -> None:
    naming = {
        name for name in EXAMPLE_NAMES if "azure:" in (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")
    }
    assert naming == {"prod"}
    assert "prod-azure" in azure_stacks
    for stack in azure_stacks.values():
        assert stack.resources("azurerm_orchestrated_virtual_machine_scale_set"), stack.name


def test_provider_subscription_and_versions(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    # azurerm 5.x registers no resource provider by default (5.0 upgrade guide): the stack names its own.
    assert stack.doc["provider"]["azurerm"] == [
        {
            "features": [{}],
            "subscription_id": "00000000-0000-0000-0000-000000000000",
            "resource_provider_registrations": "none",
            "resource_providers_to_register": list(RESOURCE_PROVIDERS),
        }
    ]
    # Every namespace the stacks create resources in is registered. Microsoft.Resources and
    # Microsoft.Authorization are registered on every subscription. A new kind must be added here.
    namespaces = {
        "cdn": "Microsoft.Cdn",
        "container": "Microsoft.ContainerRegistry",
        "dns": "Microsoft.Network",
        "lb": "Microsoft.Network",
        "log": "Microsoft.OperationalInsights",
        "monitor": "Microsoft.Insights",
        "nat": "Microsoft.Network",
        "network": "Microsoft.Network",
        "orchestrated": "Microsoft.Compute",
        "portal": "Microsoft.Portal",
        "public": "Microsoft.Network",
        "resource": None,
        "role": None,
        "subnet": "Microsoft.Network",
        "user": "Microsoft.ManagedIdentity",
        "virtual": "Microsoft.Network",
    }
    kinds = {
        kind.split("_")[1]
        for stack in azure_stacks.values()
        for kind in stack.doc["resource"]
        if kind.startswith("azurerm_")
    }
    assert kinds <= set(namespaces)
    # The release gate reads Alerts Management's API.
    assert {namespaces[kind] for kind in kinds} - {None} | {"Microsoft.AlertsManagement"} == set(
        RESOURCE_PROVIDERS
    )
    assert stack.doc["terraform"]["required_providers"] == {
        "azurerm": {"source": "hashicorp/azurerm", "version": PROVIDER_VERSIONS},
        "tls": TLS_PROVIDER,
    }
    assert stack.doc["terraform"]["backend"]["s3"]["key"] == "llmdeploy/prod-azure.tfstate"


def test_admin_key_is_generated_in_terraform_not_in_the_json(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    assert stack.resources("tls_private_key") == {
        "AdminKey": {**stack.resources("tls_private_key")["AdminKey"], "algorithm": "ED25519"}
    }


def test_outputs_name_what_the_status_command_reads(azure_stacks: dict[str, Stack]) -> None:
    outputs = azure_stacks["prod-azure"].doc["output"]
    assert set(outputs) == {
        "endpoints",
        "fleets",
        "resource_group",
        "front_door_host",
        "dns_records",
        "registry",
    }
    green = outputs["fleets"]["value"]["translate-fr-green"]
    assert (green["model"], green["slot"], green["weight"], green["scale_set"]) == (
        "translate-fr",
        "green",
        5,
        "translate-fr-green",
    )


def test_resource_addresses_match_the_golden_snapshots(azure_stacks: dict[str, Stack]) -> None:
    assert snapshot_mismatches(azure_stacks.values()) == [], (
        "resource addresses changed: real resources would be replaced. If intended, run "
        "LLMDEPLOY_UPDATE_GOLDEN=1 pytest tests/modules/azure/test_stack.py and review the diff."
    )


def test_checkov_finds_nothing_unjustified(azure_stacks: dict[str, Stack]) -> None:
    report = checkov_report(azure_stacks)
    assert report.passed > 0
    assert [f"{f.file}: {f.check} on {f.resource}" for f in report.failed] == []
    assert all(len(finding.reason) > 20 for finding in report.skipped)
    assert [f"{f.file}: {f.check} on {f.resource}" for f in report.unused] == []


def test_terraform_validates_every_stack(
    azure_stacks: dict[str, Stack], terraform_binary: str, terraform_cli_env: dict[str, str], tmp_path: Path
) -> None:
    for stack in azure_stacks.values():
        result = validate(stack, terraform_binary, terraform_cli_env, tmp_path)
        assert result["valid"] is True, (stack.name, result["diagnostics"])


def test_no_secret_value_in_any_synthesized_file(azure_stacks: dict[str, Stack]) -> None:
    root = next(iter(azure_stacks.values())).folder.parent.parent
    texts = [path.read_text(encoding="utf-8") for path in root.rglob("*.json")]
    texts += [
        gzip.decompress(base64.b64decode(scale_set["os_profile"]["custom_data"])).decode()
        for stack in azure_stacks.values()
        for scale_set in stack.resources("azurerm_orchestrated_virtual_machine_scale_set").values()
    ]
    assert leaks(texts) == []


@pytest.mark.process
def test_secrets_without_a_key_vault_are_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "novault.yaml"
    path.write_text(NO_VAULT_ENV, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "stacks"],
        cwd=REPO,
        env={**synth_environment(), "LLMDEPLOY_ENVS": str(path), "CDKTF_OUTDIR": str(tmp_path / "out")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "clouds.azure.key_vault" in done.stderr
    assert "add key_vault: {name: <vault>, resource_group: <its resource group>}" in done.stderr
    assert "novault.yaml:" in done.stderr  # located in the file
    assert "Traceback" not in done.stderr
