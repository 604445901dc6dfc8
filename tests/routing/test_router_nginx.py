"""The router VM's nginx, real: it sends each model's requests to that model's gate by the rules the load
balancers use (path prefix or host name), answers the health probes from the gates, 404s anything else."""

from __future__ import annotations

import dataclasses
import http.client
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llmdeploy.boot.router import NGINX_CONF, ROUTER_PORT, routed_models
from llmdeploy.catalog import Cloud
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.routing.common import HEALTH_PATH
from llmdeploy.routing.harness.procs import free_port, stop, wait_http
from tests.conftest import EXAMPLE_NAMES
from tests.routing.test_agent_spec import group_of, routed_clouds, routed_plan
from tests.routing.test_router_bundle import bundle_of, nginx_t

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="no nginx binary (apt-get install nginx-light)"),
]


def host_routed(plan: DeploymentPlan) -> DeploymentPlan:
    return dataclasses.replace(plan, access=plan.access.model_copy(update={"routing": "host"}))


@pytest.mark.parametrize("routing", ["path", "host"])
@pytest.mark.parametrize(("env", "cloud"), [case for env in EXAMPLE_NAMES for case in routed_clouds(env)])
def test_real_nginx_accepts_every_example_environments_router_config(
    env: str, cloud: Cloud, routing: str, tmp_path: Path
) -> None:
    plan = routed_plan(env)
    if routing == "host":
        if plan.access.tls.domain is None:
            pytest.skip(f"{env} has no domain to build host names from")
        plan = host_routed(plan)
    nginx_t(bundle_of(plan, cloud)[NGINX_CONF], tmp_path)


class _Gate(ThreadingHTTPServer):
    """A hold gate stand-in: records (method, path, Host) and answers 200 with its model's name."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.seen: list[tuple[str, str, str | None]] = []
        super().__init__(("127.0.0.1", 0), _GateHandler)


class _GateHandler(BaseHTTPRequestHandler):
    server: _Gate
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer()

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Host")))
        body = self.server.model.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@dataclasses.dataclass
class _Router:
    """The running nginx; `ask` sends as a load balancer does, to the VM's address (nginx's $host drops
    the port)."""

    port: int
    gates: dict[str, _Gate]

    def ask(self, method: str, path: str, host: str = "10.0.0.5:8080") -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, b"{}" if method == "POST" else None, {"Host": host})
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()


@contextmanager
def _running(plan: DeploymentPlan, cloud: Cloud, root: Path) -> Iterator[_Router]:
    conf = bundle_of(plan, cloud)[NGINX_CONF]
    port = free_port()
    conf = conf.replace(f"listen {ROUTER_PORT}", f"listen 127.0.0.1:{port}")
    with ExitStack() as stack:
        gates = {}
        for model in routed_models(plan, group_of(plan, cloud)):
            gate = _Gate(model.name)
            threading.Thread(target=gate.serve_forever, daemon=True).start()
            stack.callback(gate.server_close)
            stack.callback(gate.shutdown)
            gates[model.name] = gate
            conf = conf.replace(
                f"server 127.0.0.1:{model.gate_port};", f"server 127.0.0.1:{gate.server_address[1]};"
            )
        temp = " ".join(
            f"{kind}_temp_path {root / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root root;" if os.geteuid() == 0 else ""
        (root / "router.conf").write_text(conf)
        (root / "nginx.conf").write_text(
            f"daemon off; {user} pid {root / 'nginx.pid'}; error_log {root / 'error.log'};\n"
            f"events {{}}\nhttp {{ {temp} include {root / 'router.conf'}; }}\n"
        )
        command = ["nginx", "-e", str(root / "error.log"), "-p", str(root), "-c", str(root / "nginx.conf")]
        process = subprocess.Popen(command)
        stack.callback(stop, process)
        wait_http(f"http://127.0.0.1:{port}/no-such-path", process)
        yield _Router(port, gates)


def test_path_routing_strips_each_models_prefix_to_its_own_gate_and_health_comes_from_a_gate(
    tmp_path: Path,
) -> None:
    plan = routed_plan("prod")
    first, second = (model.name for model in plan.models)
    with _running(plan, "aws", tmp_path) as router:
        assert router.ask("POST", f"/{first}/v1/chat/completions") == (200, first.encode())
        assert router.ask("POST", f"/{second}/v1/completions?x=1") == (200, second.encode())
        assert router.ask("GET", "/health?probe=1")[0] == 200
        assert router.ask("POST", "/v1/completions") == (404, b'{"error":"no such model"}')
        assert router.ask("GET", HEALTH_PATH)[0] == 404, "the gate's own pages stay on loopback"
    assert router.gates[first].seen == [
        ("POST", "/v1/chat/completions", "10.0.0.5"),
        ("GET", HEALTH_PATH, "10.0.0.5"),
    ]
    assert router.gates[second].seen == [("POST", "/v1/completions?x=1", "10.0.0.5")]


def test_host_routing_sends_each_models_host_to_its_gate_and_other_hosts_nowhere(tmp_path: Path) -> None:
    plan = host_routed(routed_plan("prod"))
    first, second = (model.name for model in plan.models)
    domain = plan.access.tls.domain
    with _running(plan, "gcp", tmp_path) as router:
        assert router.ask("POST", "/v1/completions", f"{first}.{domain}") == (200, first.encode())
        assert router.ask("POST", "/v1/completions", f"{second}.{domain}") == (200, second.encode())
        assert router.ask("GET", "/health", f"{second}.{domain}")[0] == 200
        # A load balancer's probe names no model's host: the default server answers it.
        assert router.ask("GET", "/health")[0] == 200
        assert router.ask("POST", "/v1/completions", f"other.{domain}") == (404, b'{"error":"no such model"}')
    assert router.gates[first].seen == [
        ("POST", "/v1/completions", f"{first}.{domain}"),
        ("GET", HEALTH_PATH, "10.0.0.5"),
    ]
    assert router.gates[second].seen == [
        ("POST", "/v1/completions", f"{second}.{domain}"),
        ("GET", HEALTH_PATH, f"{second}.{domain}"),
    ]
