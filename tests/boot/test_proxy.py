"""The proxy in front of the engine: load balancers route `/<model>/...`, the engines serve at `/`."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.boot import boot_files
from llmdeploy.boot.context import template_context
from llmdeploy.boot.render import render
from llmdeploy.engines import PROXY_PORT
from llmdeploy.instance import APP_HEALTH_PATH, DRAIN_FLAG_FILE, FRONT_DOOR_ID_KEY, SHUTDOWN_DRAIN_S
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from tests.boot.bundles import agent_running, every_fleet, first_fleet, fleet_id, plan
from tests.boot.stand_ins import routes, serving

pytestmark = pytest.mark.process

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
    assert f"proxy_pass http://engine{fleet.health.path};" in _location(conf, f"= {fleet.health.path}")


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


def test_the_proxy_sees_the_drain_flag_through_a_read_only_mount() -> None:
    files = boot_files(plan("prod"), first_fleet("prod", "gcp"))
    unit = files[UNIT]
    assert f"--volume {Path(DRAIN_FLAG_FILE).parent}:{Path(DRAIN_FLAG_FILE).parent}:ro" in unit
    assert f"/bin/chmod 0711 {Path(DRAIN_FLAG_FILE).parent}" in unit
    assert f"if (-f {DRAIN_FLAG_FILE})" in files[CONF]


def test_at_shutdown_the_drain_stops_before_the_proxy_and_the_engine() -> None:
    files = boot_files(plan("prod"), first_fleet("prod", "gcp"))
    unit = files["/etc/systemd/system/llmdeploy-drain.service"]
    # systemd stops units in the reverse order of their start: After= the proxy and engine means before.
    assert "After=llmdeploy-proxy.service llmdeploy-engine.service" in unit
    assert f"ExecStop=/usr/bin/python3 -m llmdeploy_agents.drain --seconds {SHUTDOWN_DRAIN_S}" in unit
    # Within GCP's and Azure's 30 s notice.
    stop_timeout = int(unit.split("TimeoutStopSec=")[1].split()[0])
    assert SHUTDOWN_DRAIN_S < stop_timeout < 30
    assert "llmdeploy-drain.service" in files["/usr/local/sbin/llmdeploy-bootstrap"]


class _Engine(ThreadingHTTPServer):
    """Stands in for the engine: records request paths, streams `/v1/stream` in two chunks."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.first_chunk_seen = threading.Event()
        self.health_status = 200
        super().__init__(("127.0.0.1", 0), _EngineHandler)


class _EngineHandler(BaseHTTPRequestHandler):
    server: _Engine
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.send_response(self.server.health_status if self.path == "/health" else 200)
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

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.paths.append(f"{self.path} {body.decode()}")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

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


@dataclass
class Replica:
    """nginx with a fleet's rendered config, the bundled gate beside it, and the stand-in engine."""

    port: int
    engine: _Engine
    drain_flag: Path
    keys_file: Path
    #: The model's route prefix, `/<model>/`.
    prefix: str

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            return _send(connection, path, headers)
        finally:
            connection.close()


def _send(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection.request("GET", path, headers={"Host": "chat.example", **(headers or {})})
    answer = connection.getresponse()
    body = answer.read()
    return answer.status, {name.lower(): value for name, value in answer.getheaders()}, body


@contextmanager
def _replica(
    engine: _Engine, tmp_path: Path, env: str, fleet: FleetPlan, extra: dict[str, str]
) -> Iterator[Replica]:
    if shutil.which("nginx") is None:
        pytest.skip("no nginx binary on PATH (apt-get install nginx-light) to run the rendered config")
    port, gate_port = _free_port(), _free_port()
    context = template_context(plan(env), fleet)
    run = tmp_path / "run"
    replica = Replica(port, engine, run / "draining", run / "api-keys", context["route_prefix"])
    stand_in = dataclasses.replace(fleet.engine, container_port=engine.server_address[1])
    conf = render(
        "boot/proxy.conf.j2",
        {
            **context,
            "engine": stand_in,
            "proxy_port": port,
            "gate_port": gate_port,
            "drain_flag": str(replica.drain_flag),
        },
    )
    (tmp_path / "proxy.conf").write_text(conf)
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Run as root (CI), nginx's workers would be `nobody`, who cannot search pytest's 0700 tmp folders.
    user = "user root root;" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"daemon off; {user} pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'};\n"
        f"events {{}}\nhttp {{ {temp} include {tmp_path / 'proxy.conf'}; }}\n"
    )
    gate_env = {
        "GATE_PORT": str(gate_port),
        "API_KEYS_FILE": str(replica.keys_file),
        "ENGINE_HEALTH_URL": f"http://127.0.0.1:{engine.server_address[1]}{fleet.health.path}",
        **extra,
    }
    with agent_running("gate", env, fleet, tmp_path / "agents", gate_env) as gate:
        process = subprocess.Popen(
            [
                "nginx",
                "-e",
                str(tmp_path / "error.log"),
                "-p",
                str(tmp_path),
                "-c",
                str(tmp_path / "nginx.conf"),
            ]
        )
        try:
            _wait_listening(port, process)
            _wait_listening(gate_port, gate)
            yield replica
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_listening(port: int, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port}")


@pytest.fixture
def proxy(engine: _Engine, tmp_path: Path) -> Iterator[Replica]:
    """dev's first fleet: no API key, so every path passes to the engine."""
    with _replica(engine, tmp_path, "dev", first_fleet("dev", "aws"), {}) as replica:
        yield replica


@pytest.fixture
def keyed(engine: _Engine, tmp_path: Path) -> Iterator[Replica]:
    """prod's first AWS fleet, whose environment has an API key; the file holds one accepted key."""
    with _replica(engine, tmp_path, "prod", first_fleet("prod", "aws"), {}) as replica:
        replica.keys_file.parent.mkdir(parents=True, exist_ok=True)
        replica.keys_file.write_text(f"{KEY}\n")
        yield replica


#: Built at run time, so no key-shaped literal sits in the repository.
KEY = "k" + "ey-" * 5 + "one"


def test_real_nginx_strips_the_prefix_and_streams_chunk_by_chunk(engine: _Engine, proxy: Replica) -> None:
    for path in ("/chat/v1/chat/completions", "/health", "/v1/models"):
        assert proxy.get(path)[0] == 200
    assert engine.paths == ["/v1/chat/completions", "/health", "/v1/models"]
    with _get(proxy.port, "/chat/v1/stream") as client:
        received = _read_until(client, b"first")
        assert b"second" not in received
        engine.first_chunk_seen.set()
        _read_until(client, b"0\r\n\r\n", received)
    assert engine.paths[-1] == "/v1/stream"


def test_drain_flag_fails_health_at_once_and_closes_reused_connections(proxy: Replica) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    status, headers, _ = _send(connection, "/health")
    assert status == 200 and headers.get("connection") != "close"
    proxy.drain_flag.parent.mkdir(parents=True, exist_ok=True)
    proxy.drain_flag.touch()
    # The load balancer's next probe on its kept-alive connection fails, and the connection closes.
    status, headers, _ = _send(connection, "/health")
    assert (status, headers["connection"], headers["retry-after"]) == (503, "close", "5")
    assert connection.sock is None  # http.client closed it as the answer said
    status, headers, body = proxy.get("/chat/v1/chat/completions")
    assert (status, headers["connection"], headers["retry-after"]) == (503, "close", "5")
    assert b"draining" in body
    proxy.drain_flag.unlink()
    assert proxy.get("/health")[0] == 200


def test_streams_in_flight_finish_while_draining(engine: _Engine, proxy: Replica) -> None:
    with _get(proxy.port, "/chat/v1/stream") as client:
        received = _read_until(client, b"first")
        proxy.drain_flag.parent.mkdir(parents=True, exist_ok=True)
        proxy.drain_flag.touch()
        assert proxy.get("/health")[0] == 503
        engine.first_chunk_seen.set()
        assert b"second" in _read_until(client, b"0\r\n\r\n", received)


def test_the_api_key_is_checked_and_rotates_without_restart(engine: _Engine, keyed: Replica) -> None:
    path = f"{keyed.prefix}v1/chat/completions"
    assert keyed.get(path)[0] == 401
    assert keyed.get(path, {"Authorization": f"Bearer {KEY}x"})[0] == 401
    assert keyed.get(path, {"Authorization": f"Basic {KEY}"})[0] == 401
    assert keyed.get(path, {"Authorization": f"Bearer {KEY}"})[0] == 200
    assert engine.paths == ["/v1/chat/completions"]
    # A prompt's body reaches the engine once the key is accepted (the gate never sees it).
    connection = http.client.HTTPConnection("127.0.0.1", keyed.port, timeout=5)
    connection.request("POST", path, body='{"prompt": "hi"}', headers={"Authorization": f"Bearer {KEY}"})
    assert connection.getresponse().status == 200
    assert engine.paths[-1] == '/v1/chat/completions {"prompt": "hi"}'
    rotated = ["key-two-" + "x" * 8, "key-three-" + "y" * 8]
    keyed.keys_file.write_text("".join(f"{key}\n" for key in rotated))
    assert keyed.get(path, {"Authorization": f"Bearer {KEY}"})[0] == 401
    assert [keyed.get(path, {"Authorization": f"Bearer {key}"})[0] for key in rotated] == [200, 200]
    keyed.keys_file.unlink()
    assert keyed.get(path, {"Authorization": f"Bearer {rotated[0]}"})[0] == 401


@pytest.mark.parametrize(
    "path",
    [
        "/health/",
        "/healthz",
        "/health/../v1/models",
        "/translate-fr/health",
        "/translate-fr/v1/models?x=/health",
        "/metrics?probe=/health",
        "/llmdeploy/auth",
    ],
)
def test_only_the_exact_health_path_is_keyless(engine: _Engine, keyed: Replica, path: str) -> None:
    assert keyed.get(path)[0] in (401, 404)
    assert engine.paths == []


@pytest.mark.parametrize("path", ["/health", "/health?x=/v1/models", "/v1/../health", "/%68ealth"])
def test_the_keyless_health_path_reaches_only_the_engines_health(
    engine: _Engine, keyed: Replica, path: str
) -> None:
    assert keyed.get(path)[0] == 200
    assert engine.paths == ["/health"]


def test_app_health_answers_the_azure_extension_with_its_json_body(engine: _Engine, keyed: Replica) -> None:
    status, _, body = keyed.get(APP_HEALTH_PATH)
    assert (status, json.loads(body)) == (200, {"ApplicationHealthState": "Healthy"})
    engine.health_status = 503
    status, _, body = keyed.get(APP_HEALTH_PATH)
    assert (status, json.loads(body)) == (503, {"ApplicationHealthState": "Unhealthy"})
    keyed.drain_flag.parent.mkdir(parents=True, exist_ok=True)
    engine.health_status = 200
    keyed.drain_flag.touch()
    assert keyed.get(APP_HEALTH_PATH)[0] == 503


def test_azure_origins_admit_only_this_profiles_front_door(engine: _Engine, tmp_path: Path) -> None:
    front_door = "6f0f4cb4-0d8e-4b5e-9a55-0000000000aa"
    user_data = base64.b64encode(json.dumps({FRONT_DOOR_ID_KEY: front_door}).encode()).decode()
    table = {"/instance/compute/userData?api-version=2021-01-01&format=text": lambda: user_data}
    with serving(routes(table)) as metadata:
        fleet = first_fleet("prod", "azure")
        with _replica(engine, tmp_path, "prod", fleet, {"METADATA_URL": metadata.url}) as replica:
            replica.keys_file.parent.mkdir(parents=True, exist_ok=True)
            replica.keys_file.write_text(f"{KEY}\n")
            key = {"Authorization": f"Bearer {KEY}"}
            path = f"{replica.prefix}v1/models"
            assert replica.get(path, key)[0] == 403
            assert replica.get(path, {**key, "X-Azure-FDID": "another-customers-front-door"})[0] == 403
            assert replica.get(path, {"X-Azure-FDID": front_door})[0] == 401
            assert replica.get(path, {**key, "X-Azure-FDID": front_door})[0] == 200
            # Azure's load balancer probe and the health extension reach the VM directly, keyless.
            assert replica.get(fleet.health.path)[0] == 200


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
