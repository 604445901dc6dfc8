"""The token fetch and the metrics relay, run from the bundle against loopback stand-ins and the emulator."""

from __future__ import annotations

import ast
import base64
import json
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmdeploy import metrics
from llmdeploy.boot import boot_files
from llmdeploy.boot.bundle import AGENTS_DIR
from llmdeploy.catalog import Cloud
from llmdeploy.emulator import EmulatorHandle, emulator_env
from tests.boot.bundles import first_fleet, plan, run_agent
from tests.boot.stand_ins import Answer, Call, StandIn, routes, serving
from tests.fixtures_aws import AwsClient

AZURE_TOKEN_PATH = "/identity/oauth2/token?api-version=2018-02-01&resource="
# Built at run time so no token-shaped literal sits in the repository (secret scanners flag those).
FAKE_TOKEN = "hf_" + "fake" * 9
TGI_METRICS = """\
# TYPE tgi_queue_size gauge
tgi_queue_size 3
# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 5
# TYPE tgi_request_generated_tokens histogram
tgi_request_generated_tokens_sum {tokens}
tgi_request_duration_sum{{method="POST"}} {duration}
tgi_request_duration_count{{method="POST"}} {count}
"""


def _token_file(tmp_path: Path) -> Path:
    return tmp_path / "run" / "hf-token.env"


def _assert_token_written(tmp_path: Path, stderr: str) -> None:
    token_file = _token_file(tmp_path)
    assert token_file.read_text() == f"HF_TOKEN={FAKE_TOKEN}\n"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert FAKE_TOKEN not in stderr


def test_aws_token_comes_from_secrets_manager_into_a_root_only_file(
    emulator: EmulatorHandle, aws_client: AwsClient, unique_name: str, tmp_path: Path
) -> None:
    secret = f"llmdeploy/{unique_name}/hf-token"
    aws_client("secretsmanager").create_secret(Name=secret, SecretString=FAKE_TOKEN)
    env = {**emulator_env(emulator), "HF_TOKEN_SECRET": secret, "TOKEN_FILE": str(_token_file(tmp_path))}
    result = run_agent("hf_token", "dev", first_fleet("dev", "aws"), tmp_path, env)
    assert result.returncode == 0, result.stderr
    _assert_token_written(tmp_path, result.stderr)


def test_a_missing_secret_fails_with_its_name_and_writes_nothing(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    env = {
        **emulator_env(emulator),
        "HF_TOKEN_SECRET": "no-such-secret",
        "TOKEN_FILE": str(_token_file(tmp_path)),
    }
    result = run_agent("hf_token", "dev", first_fleet("dev", "aws"), tmp_path, env)
    assert result.returncode == 1
    assert "cannot read the Hugging Face token from secret 'no-such-secret' on aws" in result.stderr
    assert not _token_file(tmp_path).exists()


def _secret_store(metadata: dict[str, str], secret_path: str, secret: str) -> Any:
    """Metadata routes, and a secret store that answers `secret` only to the identity's token."""

    def app(call: Call) -> Answer:
        if call.path in metadata:
            return 200, metadata[call.path]
        if call.headers.get("authorization") != "Bearer identity-token":
            return 401, "no identity"
        return (200, secret) if call.path == secret_path else (404, "not found")

    return app


def _fetch_from(env_name: str, cloud: Cloud, store_variable: str, store: Any, tmp_path: Path) -> None:
    """Fetch the token with metadata and secret store both served by `store`, and check the file."""
    with serving(store) as stand_in:
        env = {
            "METADATA_URL": stand_in.url,
            store_variable: stand_in.url,
            "TOKEN_FILE": str(_token_file(tmp_path)),
        }
        result = run_agent("hf_token", env_name, first_fleet(env_name, cloud), tmp_path, env)
    assert result.returncode == 0, result.stderr
    _assert_token_written(tmp_path, result.stderr)


def test_gcp_token_comes_from_secret_manager_with_the_metadata_identity(tmp_path: Path) -> None:
    payload = json.dumps({"payload": {"data": base64.b64encode(FAKE_TOKEN.encode()).decode()}})
    table = {
        "/project/project-id": "demo-project",
        "/instance/service-accounts/default/token": json.dumps({"access_token": "identity-token"}),
    }

    secret = "/v1/projects/demo-project/secrets/llmdeploy-staging-hf-token/versions/latest:access"
    _fetch_from("staging", "gcp", "SECRET_MANAGER_URL", _secret_store(table, secret, payload), tmp_path)


def test_azure_token_comes_from_the_key_vault_with_the_managed_identity(tmp_path: Path) -> None:
    table = {
        f"{AZURE_TOKEN_PATH}https%3A%2F%2Fvault.azure.net": json.dumps({"access_token": "identity-token"}),
    }

    store = _secret_store(
        table, "/secrets/llmdeploy-prod-hf-token?api-version=7.4", json.dumps({"value": FAKE_TOKEN})
    )
    _fetch_from("prod", "azure", "KEY_VAULT_URL", store, tmp_path)


class Engine:
    """A stand-in engine whose counters advance between scrapes: 600 tokens and 2 requests of 3 s."""

    def __init__(self) -> None:
        self.scrapes = 0

    def __call__(self, call: Call) -> Answer:
        step, self.scrapes = self.scrapes, self.scrapes + 1
        text = TGI_METRICS.format(tokens=1000 + 600 * step, duration=10 + 6 * step, count=4 + 2 * step)
        return 200, text


def _relay(env: str, cloud: Cloud, engine: StandIn, tmp_path: Path, extra: dict[str, str]) -> Any:
    settings = {"ENGINE_METRICS_URL": f"{engine.url}/metrics", **extra}
    return run_agent(
        "metrics_relay",
        env,
        first_fleet(env, cloud),
        tmp_path,
        settings,
        "--interval",
        "1",
        "--max-cycles",
        "2",
    )


def test_aws_relay_publishes_queue_batch_tokens_and_duration_to_cloudwatch(
    emulator: EmulatorHandle, aws_client: AwsClient, tmp_path: Path
) -> None:
    with serving(Engine()) as engine:
        result = _relay("dev", "aws", engine, tmp_path, emulator_env(emulator))
    assert result.returncode == 0, result.stderr
    dimensions = [
        {"Name": name, "Value": value}
        for name, value in metrics.dimension_values("llmdeploy-demo", "dev", "chat", "blue").items()
    ]
    listed = aws_client("cloudwatch").list_metrics(Namespace=metrics.NAMESPACE, Dimensions=dimensions)[
        "Metrics"
    ]
    assert {entry["MetricName"] for entry in listed} == set(metrics.METRIC_NAMES)
    data = aws_client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": f"m{index}",
                "MetricStat": {
                    "Metric": {"Namespace": metrics.NAMESPACE, "MetricName": name, "Dimensions": dimensions},
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
            for index, name in enumerate(metrics.METRIC_NAMES)
        ],
        StartTime=datetime.now(UTC) - timedelta(minutes=10),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
    )["MetricDataResults"]
    values = {metrics.METRIC_NAMES[int(entry["Id"][1:])]: max(entry["Values"]) for entry in data}
    assert values[metrics.QUEUE_SIZE] == 3 and values[metrics.BATCH_SIZE] == 5
    assert values[metrics.REQUEST_DURATION_SECONDS] == pytest.approx(3.0)
    # 600 tokens between two scrapes one interval (1 s) plus the relay's own work apart.
    assert 1.0 <= 600 / values[metrics.GENERATED_TOKENS_PER_SECOND] <= 10.0


def _recording_api(table: dict[str, str]) -> tuple[Any, list[Call]]:
    posts: list[Call] = []

    def app(call: Call) -> Answer:
        if call.method == "POST":
            posts.append(call)
            return 200, "{}"
        return (200, table[call.path]) if call.path in table else (404, "not found")

    return app, posts


def test_gcp_relay_writes_per_instance_custom_metrics(tmp_path: Path) -> None:
    app, posts = _recording_api(
        {
            "/project/project-id": "demo-project",
            "/instance/zone": "projects/1/zones/us-central1-a",
            "/instance/id": "4711",
            "/instance/service-accounts/default/token": json.dumps({"access_token": "identity-token"}),
        }
    )
    with serving(Engine()) as engine, serving(app) as google:
        result = _relay(
            "staging", "gcp", engine, tmp_path, {"METADATA_URL": google.url, "MONITORING_URL": google.url}
        )
    assert result.returncode == 0, result.stderr
    assert [call.path for call in posts] == ["/v3/projects/demo-project/timeSeries"] * 2
    series = json.loads(posts[-1].body)["timeSeries"]
    assert {entry["metric"]["type"] for entry in series} == {
        metrics.GCP_METRIC_PREFIX + name for name in metrics.METRIC_NAMES
    }
    assert series[0]["metric"]["labels"] == {
        "project": "llmdeploy-demo",
        "environment": "staging",
        "model": "translate-fr",
        "slot": "blue",
    }
    assert series[0]["resource"] == {
        "type": "gce_instance",
        "labels": {"project_id": "demo-project", "zone": "us-central1-a", "instance_id": "4711"},
    }
    assert posts[-1].headers["authorization"] == "Bearer identity-token"


def test_azure_relay_posts_custom_metrics_on_the_scale_set(tmp_path: Path) -> None:
    compute = {
        "subscriptionId": "sub",
        "resourceGroupName": "rg",
        "vmScaleSetName": "vmss",
        "location": "eastus",
    }
    app, posts = _recording_api(
        {
            "/instance/compute?api-version=2021-02-01": json.dumps(compute),
            f"{AZURE_TOKEN_PATH}https%3A%2F%2Fmonitoring.azure.com%2F": json.dumps(
                {"access_token": "identity-token"}
            ),
        }
    )
    with serving(Engine()) as engine, serving(app) as azure:
        result = _relay(
            "prod", "azure", engine, tmp_path, {"METADATA_URL": azure.url, "MONITORING_URL": azure.url}
        )
    assert result.returncode == 0, result.stderr
    provider = "providers/Microsoft.Compute/virtualMachineScaleSets"
    scale_set = f"/subscriptions/sub/resourceGroups/rg/{provider}/vmss/metrics"
    assert {call.path for call in posts} == {scale_set}
    published = {json.loads(call.body)["data"]["baseData"]["metric"] for call in posts}
    assert published == set(metrics.METRIC_NAMES)
    base = json.loads(posts[0].body)["data"]["baseData"]
    assert base["namespace"] == metrics.NAMESPACE and base["dimNames"] == list(metrics.DIMENSIONS)


def test_relay_survives_an_engine_that_is_still_loading(tmp_path: Path) -> None:
    with serving(routes({})) as loading:
        result = _relay("dev", "aws", loading, tmp_path, {})
    assert result.returncode == 0
    assert result.stderr.count("metrics not relayed: engine metrics answered HTTP 404") == 2


def _stdlib_or_boto3(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names or module == "boto3"


def test_agents_need_only_the_standard_library_and_boto3() -> None:
    for path, source in boot_files(plan("dev"), first_fleet("dev", "aws")).items():
        if not path.startswith(AGENTS_DIR):
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                assert all(_stdlib_or_boto3(alias.name) for alias in node.names), path
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                assert node.module == "__future__" or _stdlib_or_boto3(node.module or ""), path


def test_agents_parse_as_python_3_10_the_deep_learning_ami_python() -> None:
    for path, source in boot_files(plan("dev"), first_fleet("dev", "aws")).items():
        if path.startswith(AGENTS_DIR):
            tree = ast.parse(source, filename=path, feature_version=(3, 10))
            names = {
                alias.name
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)
                for alias in node.names
            }
            attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
            assert "UTC" not in names | attributes, f"{path}: datetime.UTC is new in Python 3.11"


def test_relay_publishes_the_names_the_monitoring_constructs_use() -> None:
    source = boot_files(plan("dev"), first_fleet("dev", "aws"))[f"{AGENTS_DIR}/metrics_relay.py"]
    literals = {node.value for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Constant)}
    assert set(metrics.METRIC_NAMES) <= literals
    assert set(metrics.DIMENSIONS) <= literals
