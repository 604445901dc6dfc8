"""Nothing lost, nothing injected in the router VM's bundle: a hostile model name, health path or
environment name through every file that holds one, read back by PyYAML (cloud-init's parser), nginx,
systemd-analyze, shellcheck and ports of their parsers (tests/boot/readers.py).

The plan is changed directly (the config layer would refuse most of these values): the escaping must
hold on its own, as for the GPU bundle (tests/boot/test_escaping.py, whose hostile values these are).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from llmdeploy.boot.bundle import CLOUD_CONFIG
from llmdeploy.boot.escape import NGINX_TOKEN_MAX, RenderError
from llmdeploy.boot.router import BOOTSTRAP, NGINX_CONF, routed_models
from llmdeploy.catalog import Cloud
from llmdeploy.plan.model import DeploymentPlan
from tests.boot.readers import nginx_statements, unit_settings
from tests.boot.test_escaping import HOSTILE, PATHS
from tests.routing.test_agent_spec import group_of, routed_plan
from tests.routing.test_router_bundle import bundle_of, nginx_t, shellcheck

CLOUDS: tuple[Cloud, ...] = ("aws", "gcp", "azure")


def hostile_plan(name: str, health_path: str, env: str, routing: str = "path") -> DeploymentPlan:
    """prod with routing on, its first model renamed `name` probed on `health_path`, in env `env`."""
    source = routed_plan("prod")
    first = source.models[0]
    model = dataclasses.replace(
        first,
        name=name,
        route_prefix=f"/{name}/",
        fleets=tuple(dataclasses.replace(fleet, model=name) for fleet in first.fleets),
    )

    def renamed(values: dict[str, object], value: object) -> dict[str, object]:
        return {
            name if key == first.name else key: value if key == first.name else kept
            for key, kept in values.items()
        }

    routers = tuple(
        dataclasses.replace(
            group,
            health_paths=renamed(group.health_paths, health_path),  # type: ignore[arg-type]
            per_replica_concurrency=renamed(
                group.per_replica_concurrency, group.per_replica_concurrency[first.name]
            ),  # type: ignore[arg-type]
        )
        for group in source.routers
    )
    access = source.access.model_copy(update={"routing": routing})
    return dataclasses.replace(
        source, env=env, models=(model, *source.models[1:]), routers=routers, access=access
    )


@cache
def benign(cloud: Cloud, shared_health: bool = True) -> dict[str, str]:
    """The bundle with plain values, its first model probed on the others' health path or its own."""
    other = routed_plan("prod").models[1].name
    health = group_of(routed_plan("prod"), cloud).health_paths[other] if shared_health else "/probe"
    return bundle_of(hostile_plan("chat", health, "prod"), cloud)


def shares_health(health_path: str, cloud: Cloud) -> bool:
    """Whether the first model's health path is another model's too (nginx then has one location)."""
    plan = routed_plan("prod")
    return health_path in {group_of(plan, cloud).health_paths[model.name] for model in plan.models[1:]}


def _refused(name: str, health_path: str) -> bool:
    """Whether nginx cannot hold a value at all (so rendering must refuse it)."""
    if any("\0" in value or re.search("[\ud800-\udfff]", value) for value in (name, health_path)):
        return True
    too_long = any(
        len(path.encode()) + sum(path.count(char) for char in '\\"\t\r\n') + 2 > NGINX_TOKEN_MAX
        for path in (health_path, f"/{name}/")
    )
    return not health_path.startswith("/") or too_long


def render(cloud: Cloud, name: str, health_path: str, env: str) -> dict[str, str] | None:
    assume(name not in {model.name for model in routed_plan("prod").models[1:]})
    plan = hostile_plan(name, health_path, env)
    if _refused(name, health_path):
        with pytest.raises(RenderError, match="fix the value in the environment file"):
            bundle_of(plan, cloud)
        return None
    return bundle_of(plan, cloud)


@pytest.mark.parametrize("cloud", CLOUDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=HOSTILE, health_path=PATHS, env=HOSTILE)
def test_the_cloud_config_holds_exactly_the_intended_files_and_the_spec_every_value(
    cloud: Cloud, name: str, health_path: str, env: str
) -> None:
    files = render(cloud, name, health_path, env)
    if files is None:
        return
    document = yaml.safe_load(files[CLOUD_CONFIG])
    assert set(document) == {"package_update", "packages", "write_files", "runcmd"}
    assert document["runcmd"] == [[BOOTSTRAP]]
    assert [entry["path"] for entry in document["write_files"]] == [
        p for p in benign(cloud) if p != CLOUD_CONFIG
    ]
    for entry in document["write_files"]:
        assert entry["content"] == files[entry["path"]], f"{entry['path']} changed on its way through YAML"
    plan = hostile_plan(name, health_path, env)
    spec = json.loads(files[routed_models(plan, group_of(plan, cloud))[0].spec_path])
    assert spec["health_path"] == health_path


@pytest.mark.process
@pytest.mark.parametrize("cloud", CLOUDS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=HOSTILE, health_path=PATHS, env=HOSTILE)
def test_the_nginx_config_keeps_its_locations_and_real_nginx_accepts_it(
    cloud: Cloud, name: str, health_path: str, env: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = render(cloud, name, health_path, env)
    if files is None:
        return
    conf = files[NGINX_CONF]
    reference = benign(cloud, shares_health(health_path, cloud))[NGINX_CONF]
    assert nginx_statements(conf) == nginx_statements(reference)
    nginx_t(conf, tmp_path_factory.mktemp("nginx"))


@pytest.mark.process
@pytest.mark.parametrize("cloud", CLOUDS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=HOSTILE, health_path=PATHS, env=HOSTILE)
def test_units_keep_their_settings_and_the_bootstrap_passes_shellcheck(
    cloud: Cloud, name: str, health_path: str, env: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = render(cloud, name, health_path, env)
    if files is None:
        return
    units = [path for path in files if path.endswith(".service")]
    for path in units:
        keys = [(section, key) for section, key, _ in unit_settings(files[path])]
        assert keys == [(section, key) for section, key, _ in unit_settings(benign(cloud)[path])], path
    folder = tmp_path_factory.mktemp("units")
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:
        for path in units:
            (folder / Path(path).name).write_text(files[path])
        result = subprocess.run(
            [analyze, "verify", *(str(folder / Path(path).name) for path in units)],
            capture_output=True,
            text=True,
        )
        # A line naming a unit file and a line number is a parse warning; the rest is about this machine.
        parse_warning = re.compile(rf"{re.escape(str(folder))}/[^:]+:\d+:")
        assert not [line for line in result.stderr.splitlines() if parse_warning.match(line)], result.stderr
    shellcheck(files[BOOTSTRAP], folder)


@pytest.mark.parametrize(
    ("name", "health_path"),
    [
        ("chat", "health"),
        ("chat", "~ /x"),
        ("chat", "/\0"),
        ("chat", "/" + "x" * NGINX_TOKEN_MAX),
        ("a\0b", "/h"),
    ],
)
def test_a_value_nginx_cannot_hold_is_refused_and_named(name: str, health_path: str) -> None:
    with pytest.raises(RenderError, match="fix the value in the environment file"):
        bundle_of(hostile_plan(name, health_path, "prod"), "aws")


@pytest.mark.parametrize("name", ["chat bot", "chat;", "*", "~chat", "chat\nserver_name evil", "-chat", "é"])
def test_with_host_routing_a_model_name_that_is_no_host_name_is_refused(name: str) -> None:
    with pytest.raises(RenderError, match="cannot be written as an nginx server name"):
        bundle_of(hostile_plan(name, "/health", "prod", routing="host"), "gcp")


@settings(max_examples=30, deadline=None)
@given(name=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True))
def test_with_host_routing_every_model_host_becomes_a_server_name(name: str) -> None:
    assume(name not in {model.name for model in routed_plan("prod").models[1:]})
    conf = bundle_of(hostile_plan(name, "/health", "prod", routing="host"), "gcp")[NGINX_CONF]
    assert f"server_name {name}.llm.example.com;" in conf
