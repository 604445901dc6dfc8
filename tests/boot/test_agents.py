"""The token fetch and the metrics relay, run from the bundle against loopback stand-ins and the emulator."""

from __future__ import annotations

import ast
import base64
import json
import stat
import sys
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmdeploy import metrics
from llmdeploy.boot import boot_files
from llmdeploy.boot.bundle import AGENTS_DIR
from llmdeploy.catalog import Cloud
from llmdeploy.emulator import EmulatorHandle, emulator_env
from llmdeploy.instance import LAUNCH_HEARTBEAT_S, LAUNCH_HOOK_NAME, READY_HEARTBEAT_EVERY_S, READY_TIMEOUT_S
from tests.boot.bundles import first_fleet, plan, run_agent
from tests.boot.stand_ins import Answer, Call, StandIn, routes, serving
from tests.boot.test_spot_watcher import imds
from tests.fixtures_aws import AwsClient

pytestmark = pytest.mark.process

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


def _keys_env(tmp_path: Path, emulator: EmulatorHandle, secret: str, next_secret: str = "") -> dict[str, str]:
    return {
        **emulator_env(emulator),
        "API_KEY_SECRET": secret,
        "NEXT_API_KEY_SECRET": next_secret,
        "API_KEYS_FILE": str(tmp_path / "run" / "api-keys"),
        "API_KEY_REFRESH_SECONDS": "0.5",
    }


def test_api_keys_are_read_refreshed_and_rotated_into_a_root_only_file(
    emulator: EmulatorHandle, aws_client: AwsClient, unique_name: str, tmp_path: Path
) -> None:
    current, upcoming = "key-" + "a" * 20, "key-" + "b" * 20
    names = (f"llmdeploy/{unique_name}/api-key", f"llmdeploy/{unique_name}/next-api-key")
    secrets = aws_client("secretsmanager")
    # `echo KEY | ...` leaves one trailing newline: it is not part of the key.
    secrets.create_secret(Name=names[0], SecretString=f"{current}\n")
    secrets.create_secret(Name=names[1], SecretString=upcoming)
    env = _keys_env(tmp_path, emulator, *names)
    result = run_agent("api_keys", "prod", first_fleet("prod", "aws"), tmp_path, env, "--max-cycles", "1")
    assert result.returncode == 0, result.stderr
    keys_file = tmp_path / "run" / "api-keys"
    assert keys_file.read_text() == f"{current}\n{upcoming}\n"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert current not in result.stderr and upcoming not in result.stderr
    # Rotation: the next key becomes the key; the agent picks it up on its next read, no restart.
    secrets.put_secret_value(SecretId=names[0], SecretString=upcoming)
    env = _keys_env(tmp_path, emulator, names[0])
    result = run_agent("api_keys", "prod", first_fleet("prod", "aws"), tmp_path, env, "--max-cycles", "2")
    assert result.returncode == 0, result.stderr
    assert keys_file.read_text() == f"{upcoming}\n"


def test_a_json_secret_is_refused_by_name_and_the_keys_already_read_stay(
    emulator: EmulatorHandle, aws_client: AwsClient, unique_name: str, tmp_path: Path
) -> None:
    """Reviews aws #16 and gcp #5: the Secrets Manager console stores key/value JSON by default."""
    name = f"llmdeploy/{unique_name}/api-key"
    value = json.dumps({"api_key": "key-" + "c" * 20})
    aws_client("secretsmanager").create_secret(Name=name, SecretString=value)
    keys_file = tmp_path / "run" / "api-keys"
    keys_file.parent.mkdir(parents=True)
    keys_file.write_text("key-kept\n")
    env = _keys_env(tmp_path, emulator, name)
    result = run_agent("api_keys", "prod", first_fleet("prod", "aws"), tmp_path, env, "--max-cycles", "1")
    assert result.returncode == 0, result.stderr
    assert f"secret {name!r} holds JSON (a key/value secret); store the bare value" in result.stderr
    assert "c" * 20 not in result.stderr
    assert keys_file.read_text() == "key-kept\n"


def test_a_json_hf_token_secret_is_refused_and_writes_nothing(
    emulator: EmulatorHandle, aws_client: AwsClient, unique_name: str, tmp_path: Path
) -> None:
    secret = f"llmdeploy/{unique_name}/hf-token"
    aws_client("secretsmanager").create_secret(Name=secret, SecretString=json.dumps({"token": FAKE_TOKEN}))
    env = {**emulator_env(emulator), "HF_TOKEN_SECRET": secret, "TOKEN_FILE": str(_token_file(tmp_path))}
    result = run_agent("hf_token", "dev", first_fleet("dev", "aws"), tmp_path, env)
    assert result.returncode == 1
    assert "holds JSON" in result.stderr and FAKE_TOKEN not in result.stderr
    assert not _token_file(tmp_path).exists()


def test_gcp_api_key_with_a_trailing_newline_is_stripped(tmp_path: Path) -> None:
    key = "key-" + "d" * 20
    payload = json.dumps({"payload": {"data": base64.b64encode(f"{key}\n".encode()).decode()}})
    table = {
        "/project/project-id": "demo-project",
        "/instance/service-accounts/default/token": json.dumps({"access_token": "identity-token"}),
    }
    store = _secret_store(
        table, "/v1/projects/demo-project/secrets/llmdeploy-staging-api-key/versions/latest:access", payload
    )
    with serving(store) as stand_in:
        env = {
            "METADATA_URL": stand_in.url,
            "SECRET_MANAGER_URL": stand_in.url,
            "API_KEYS_FILE": str(tmp_path / "run" / "api-keys"),
        }
        result = run_agent(
            "api_keys", "staging", first_fleet("staging", "gcp"), tmp_path, env, "--max-cycles", "1"
        )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "api-keys").read_text() == f"{key}\n"


HEARTBEAT = (
    '<RecordLifecycleActionHeartbeatResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
    "<RecordLifecycleActionHeartbeatResult/><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
    "</RecordLifecycleActionHeartbeatResponse>"
)
COMPLETE = HEARTBEAT.replace("RecordLifecycleActionHeartbeat", "CompleteLifecycleAction")


def _ready(tmp_path: Path, health: Any, timeout_s: str) -> tuple[Any, list[dict[str, str]]]:
    """Run the readiness agent against an IMDS, an Auto Scaling API and a proxy health stand-in."""
    actions: list[dict[str, str]] = []

    def autoscaling(call: Call) -> Answer:
        params = {key: values[0] for key, values in urllib.parse.parse_qs(call.body.decode()).items()}
        actions.append(params)
        return (
            200,
            HEARTBEAT if params["Action"] == "RecordLifecycleActionHeartbeat" else COMPLETE,
            "text/xml",
        )

    imds_table = {
        "/latest/meta-data/instance-id": lambda: "i-0123456789abcdef0",
        "/latest/meta-data/tags/instance/aws:autoscaling:groupName": lambda: "prod-chat-blue",
    }
    with serving(imds(imds_table)) as metadata, serving(autoscaling) as api, serving(health) as proxy:
        env = {
            "METADATA_URL": metadata.url,
            "AWS_ENDPOINT_URL": api.url,
            "AWS_ACCESS_KEY_ID": "unused",
            "AWS_SECRET_ACCESS_KEY": "unused",
            "AWS_EC2_METADATA_DISABLED": "true",
            "PROXY_HEALTH_URL": f"{proxy.url}/health",
            "READY_HEARTBEAT_SECONDS": "0.4",
            "READY_TIMEOUT_SECONDS": timeout_s,
        }
        result = run_agent("ready", "dev", first_fleet("dev", "aws"), tmp_path, env, "--poll-seconds", "0.1")
    return result, actions


def test_the_launch_hook_waits_with_heartbeats_and_continues_once_the_engine_answers(tmp_path: Path) -> None:
    probes: list[float] = []

    def health(call: Call) -> Answer:
        probes.append(time.time())  # loading for the first 1.2 s of probes: the proxy answers 502
        return (200, "") if probes[-1] - probes[0] >= 1.2 else (502, "loading")

    result, actions = _ready(tmp_path, health, timeout_s="60")
    assert result.returncode == 0, result.stderr
    kinds = [action["Action"] for action in actions]
    assert kinds[-1] == "CompleteLifecycleAction" and "RecordLifecycleActionHeartbeat" in kinds
    assert {key: actions[-1][key] for key in ("LifecycleHookName", "AutoScalingGroupName", "InstanceId")} == {
        "LifecycleHookName": LAUNCH_HOOK_NAME,
        "AutoScalingGroupName": "prod-chat-blue",
        "InstanceId": "i-0123456789abcdef0",
    }
    assert actions[-1]["LifecycleActionResult"] == "CONTINUE"


def test_an_engine_that_never_answers_is_abandoned_so_the_group_replaces_it(tmp_path: Path) -> None:
    result, actions = _ready(tmp_path, routes({}), timeout_s="1")
    assert result.returncode == 0, result.stderr
    assert actions[-1]["Action"] == "CompleteLifecycleAction"
    assert actions[-1]["LifecycleActionResult"] == "ABANDON"
    assert "did not answer within 1 s" in result.stderr


def test_the_launch_hook_outlasts_a_model_load_only_through_heartbeats() -> None:
    # AWS: heartbeat timeout 30-7200 s; a hook waits at most 100 heartbeat timeouts or 48 h in all.
    assert 2 * READY_HEARTBEAT_EVERY_S <= LAUNCH_HEARTBEAT_S <= 7200
    # Loads take 10-20 min, longer than one heartbeat timeout: only a live agent keeps the hook waiting.
    assert LAUNCH_HEARTBEAT_S < 20 * 60 < READY_TIMEOUT_S < min(100 * LAUNCH_HEARTBEAT_S, 48 * 3600)


@pytest.mark.parametrize(
    ("env", "cloud"), [("dev", "aws"), ("prod", "aws"), ("staging", "gcp"), ("prod", "azure")]
)
def test_the_bootstrap_starts_the_agents_each_vm_needs(env: str, cloud: Cloud) -> None:
    files = boot_files(plan(env), first_fleet(env, cloud))
    bootstrap = files["/usr/local/sbin/llmdeploy-bootstrap"]
    started = {name for name in bootstrap.split() if name.endswith(".service")}
    units = {path.rsplit("/", 1)[1] for path in files if path.startswith("/etc/systemd/system/")}
    assert started == units
    assert ("llmdeploy-api-keys.service" in units) == (plan(env).access.api_key is not None)
    assert ("llmdeploy-ready.service" in units) == (cloud == "aws")
    assert {"llmdeploy-gate.service", "llmdeploy-drain.service"} <= units
    shipped = {path.rsplit("/", 1)[1] for path in files if path.startswith(AGENTS_DIR)}
    assert f"{cloud}.py" in shipped and not {"aws.py", "gcp.py", "azure.py"} - {f"{cloud}.py"} & shipped
