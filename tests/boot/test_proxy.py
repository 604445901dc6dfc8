"""The proxy in front of the engine: load balancers route `/<model>/...`, the engines serve at `/`."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llmdeploy.boot import boot_files
from llmdeploy.boot.context import template_context
from llmdeploy.boot.render import render
from llmdeploy.engines import PROXY_PORT
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from tests.boot.bundles import every_fleet, first_fleet, fleet_id, plan

CONF = "/etc/llmdeploy/proxy.conf"
UNIT = "/etc/systemd/system/llmdeploy-proxy.service"


def _location(conf: str, match: str) -> str:
    """The body of `location <match> { ... }` in the rendered config."""
    start = conf.index(f"location {match} {{")
    return conf[start : conf.index("}", start)]


@pytest.mark.parametrize("case", every_fleet(), ids=fleet_id)
def test_the_model_prefix_is_stripped_before_the_engine(case: tuple[str, FleetPlan]) -> None:
    env, fleet = case
    conf = boot_files(plan(env), fleet)[CONF]
    assert f"listen {PROXY_PORT} default_server;" in conf
    assert f"server 127.0.0.1:{fleet.engine.container_port};" in conf
    # The trailing slash of proxy_pass replaces the matched prefix: /chat/v1/x reaches the engine as /v1/x.
    assert "proxy_pass http://engine/;" in _location(conf, f"/{fleet.model}/")
    assert "proxy_pass http://engine;" in _location(conf, "/")
    assert "proxy_pass http://engine;" in _location(conf, f"= {fleet.health.path}")


@pytest.mark.parametrize("case", every_fleet(), ids=fleet_id)
def test_responses_stream_unbuffered_for_the_fleets_request_timeout(case: tuple[str, FleetPlan]) -> None:
    env, fleet = case
    conf = boot_files(plan(env), fleet)[CONF]
    for setting in (
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_buffering off;",
        "proxy_request_buffering off;",
        f"proxy_read_timeout {fleet.traffic.request_timeout_s}s;",
        "client_max_body_size 10m;",
    ):
        assert setting in conf


def _host_routed(source: DeploymentPlan) -> DeploymentPlan:
    return dataclasses.replace(source, access=source.access.model_copy(update={"routing": "host"}))


def test_host_routing_passes_paths_through_unchanged() -> None:
    conf = boot_files(_host_routed(plan("prod")), first_fleet("prod", "gcp"))[CONF]
    assert "http://engine/;" not in conf
    assert "proxy_pass http://engine;" in _location(conf, "/")


@pytest.mark.parametrize("case", every_fleet(), ids=fleet_id)
def test_load_balancers_target_and_probe_the_proxy(case: tuple[str, FleetPlan]) -> None:
    env, fleet = case
    assert fleet.health.port == PROXY_PORT != fleet.engine.container_port
    engine = boot_files(plan(env), fleet)["/usr/local/sbin/llmdeploy-engine"]
    assert '--publish "127.0.0.1:$ENGINE_PORT:$ENGINE_PORT"' in engine


def test_proxy_unit_runs_pinned_nginx_on_the_host_network_and_always_restarts() -> None:
    files = boot_files(plan("dev"), first_fleet("dev", "aws"))
    unit = files[UNIT]
    assert "--network host" in unit and "Restart=always" in unit
    assert f"--volume {CONF}:/etc/nginx/conf.d/default.conf:ro nginx:1.30.6-alpine" in unit
    # Started before the engine, so stopped after it: streams in flight finish through the proxy.
    assert "Before=llmdeploy-engine.service" in unit
    assert "llmdeploy-proxy.service llmdeploy-engine.service" in files["/usr/local/sbin/llmdeploy-bootstrap"]


def test_leaving_the_load_balancer_refuses_new_connections_to_the_proxy() -> None:
    script = boot_files(plan("prod"), first_fleet("prod", "azure"))["/usr/local/sbin/llmdeploy-leave-lb"]
    assert f"iptables -I INPUT -p tcp --dport {PROXY_PORT} -m conntrack --ctstate NEW" in script


class _Engine(ThreadingHTTPServer):
    """Stands in for the engine: records request paths, streams `/v1/stream` in two chunks."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.first_chunk_seen = threading.Event()
        super().__init__(("127.0.0.1", 0), _EngineHandler)


class _EngineHandler(BaseHTTPRequestHandler):
    server: _Engine
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.send_response(200)
        if self.path != "/v1/stream":
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"5\r\nfirst\r\n")
        self.wfile.flush()
        # The second token waits until the client has the first: a buffering proxy would deadlock here.
        self.server.first_chunk_seen.wait(timeout=10)
        self.wfile.write(b"6\r\nsecond\r\n0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the paths are recorded instead."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def engine() -> Iterator[_Engine]:
    server = _Engine()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(engine: _Engine, tmp_path: Path) -> Iterator[int]:
    """nginx running the rendered config of dev's first fleet, in front of `engine`; yields its port."""
    if shutil.which("nginx") is None:
        pytest.skip("no nginx binary on PATH (apt-get install nginx-light) to run the rendered config")
    fleet = first_fleet("dev", "aws")
    port = _free_port()
    context = template_context(plan("dev"), fleet)
    stand_in = dataclasses.replace(fleet.engine, container_port=engine.server_address[1])
    (tmp_path / "proxy.conf").write_text(
        render("boot/proxy.conf.j2", {**context, "engine": stand_in, "proxy_port": port})
    )
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"daemon off; pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'};\n"
        f"events {{}}\nhttp {{ {temp} include {tmp_path / 'proxy.conf'}; }}\n"
    )
    process = subprocess.Popen(
        ["nginx", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    )
    try:
        _wait_listening(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "nginx refused the rendered config"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nginx did not start listening")


def _get(port: int, path: str) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: chat.example\r\nConnection: close\r\n\r\n".encode())
    return client


def _read_until(client: socket.socket, marker: bytes, received: bytes = b"") -> bytes:
    while marker not in received:
        data = client.recv(4096)
        assert data, f"connection closed before {marker!r}: {received!r}"
        received += data
    return received


def test_real_nginx_strips_the_prefix_and_streams_chunk_by_chunk(engine: _Engine, proxy: int) -> None:
    for path in ("/chat/v1/chat/completions", "/health", "/v1/models"):
        with _get(proxy, path) as client:
            _read_until(client, b"ok")
    assert engine.paths == ["/v1/chat/completions", "/health", "/v1/models"]
    with _get(proxy, "/chat/v1/stream") as client:
        received = _read_until(client, b"first")
        assert b"second" not in received
        engine.first_chunk_seen.set()
        _read_until(client, b"0\r\n\r\n", received)
    assert engine.paths[-1] == "/v1/stream"
