"""The routing agent as the router VM gets it: the bundle's compacted source, run alone, behind the
bundle's nginx config and in front of the real vllm-router started with the bundle's flags."""

from __future__ import annotations

import ast
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pytest

from llmdeploy.boot.router import (
    NGINX_CONF,
    ROUTER_PORT,
    SOURCE_DIR,
    UNIT_DIR,
    routed_models,
    routing_sources,
)
from llmdeploy.routing.harness.front import router_binary
from llmdeploy.routing.harness.procs import free_port, stop, wait_http
from tests.routing.test_agent_spec import CLOUDS, group_of, routed_plan
from tests.routing.test_router_bundle import bundle_of, exec_start

#: What a shipped module may import besides the standard library and its own package: the packages
#: the router VM's bootstrap installs (vllm-router is a binary, never imported).
INSTALLED = {
    "aiohttp",
    "pydantic",
    "boto3",
    "botocore",
    "google",
    "azure",
}  # botocore: boto3's own dependency
#: Built at run time, so no key-shaped literal sits in the repository.
KEY = "Bearer " + "k" * 3 + "-shipped"


def _imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_every_routing_module_ships_and_imports_only_the_stdlib_the_installed_packages_and_each_other() -> (
    None
):
    shipped = {path: source for cloud in CLOUDS for path, source in routing_sources(cloud).items()}
    package = resources.files("llmdeploy.routing")
    modules = {entry.name for entry in package.iterdir() if entry.name.endswith(".py")}
    assert {Path(path).name for path in shipped if path.startswith("llmdeploy/routing/")} == modules
    # GCP's and Azure's metrics senders stay off AWS's 16 KB of user data, and only they do.
    assert set(routing_sources("gcp")) - set(routing_sources("aws")) == {"llmdeploy/routing/rest_metrics.py"}
    assert shipped["llmdeploy/__init__.py"] == ""
    for path, source in shipped.items():
        for name in _imports(source):
            top = name.split(".")[0]
            allowed = (
                top in sys.stdlib_module_names or top in INSTALLED or name.startswith("llmdeploy.routing")
            )
            assert allowed or name == "llmdeploy.routing", f"{path} imports {name}"


def install(root: Path, files: dict[str, str]) -> Path:
    """Write the bundle's shipped source under `root` as the VM has it; returns its PYTHONPATH."""
    for path, content in files.items():
        if path.startswith(f"{SOURCE_DIR}/"):
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
    return root / SOURCE_DIR.lstrip("/")


@pytest.mark.process
def test_the_shipped_tree_imports_alone_without_the_rest_of_llmdeploy(tmp_path: Path) -> None:
    plan = routed_plan("prod")
    pythonpath = install(tmp_path, bundle_of(plan, "gcp"))
    names = [Path(path).stem for path in routing_sources("gcp") if path.startswith("llmdeploy/routing/")]
    # This venv's editable install could still supply any other llmdeploy module, so the check is that
    # none was imported: every llmdeploy module loaded comes from the shipped tree.
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module('llmdeploy.routing.' + name)\n"
        "for name, module in sorted(sys.modules.items()):\n"
        "    if name.split('.')[0] == 'llmdeploy':\n"
        "        print(name, module.__file__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(pythonpath)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    expected = {"llmdeploy", "llmdeploy.routing", *(f"llmdeploy.routing.{name}" for name in names)}
    assert set(loaded) == expected
    assert all(Path(file).is_relative_to(pythonpath) for file in loaded.values()), loaded


class _Replica(ThreadingHTTPServer):
    """A GPU replica's proxy stand-in: its health path, and completions that record what arrived."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests: list[tuple[str, str | None]] = []
        super().__init__(("127.0.0.1", 0), _ReplicaHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ReplicaHandler(BaseHTTPRequestHandler):
    server: _Replica
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(200 if self.path == "/health" else 404, b"ok")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/completions":
            # vllm-router first asks a vLLM worker to tokenize (/v1/completions/render); TGI has no
            # such endpoint, and the router then routes on the request text.
            self._answer(404, b"not found")
            return
        self.server.requests.append((self.path, self.headers.get("Authorization")))
        body = {"choices": [{"text": "Hello"}], "system_fingerprint": self.server.name}
        self._answer(200, json.dumps(body).encode(), "application/json")

    def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def _replica(name: str) -> Iterator[_Replica]:
    server = _Replica(name)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _process(command: list[str], ready_url: str, **options: object) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, **options)  # type: ignore[call-overload]
    try:
        wait_http(ready_url, process, timeout_s=30)
        yield process
    finally:
        stop(process)


def _nginx(conf: str, root: Path) -> list[str]:
    temp = " ".join(
        f"{kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Run as root (CI), nginx's workers would be `nobody`, who cannot search pytest's 0700 tmp folders.
    user = "user root root;" if os.geteuid() == 0 else ""
    (root / "router.conf").write_text(conf)
    (root / "nginx.conf").write_text(
        f"daemon off; {user} pid {root / 'nginx.pid'}; error_log {root / 'error.log'};\n"
        f"events {{}}\nhttp {{ {temp} include {root / 'router.conf'}; }}\n"
    )
    return ["nginx", "-e", str(root / "error.log"), "-p", str(root), "-c", str(root / "nginx.conf")]


def _post(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = json.dumps({"prompt": "Bonjour", "max_tokens": 4})
        connection.request("POST", path, body, {"Authorization": KEY, "Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.mark.process
@pytest.mark.skipif(router_binary() is None, reason="no vllm-router (pip install -e '.[dev]')")
@pytest.mark.skipif(shutil.which("nginx") is None, reason="no nginx binary (apt-get install nginx-light)")
def test_a_completion_passes_the_bundles_nginx_the_shipped_agent_and_the_real_router_with_the_slot_weights(
    tmp_path: Path,
) -> None:
    plan = routed_plan("prod")
    files = bundle_of(plan, "aws")
    model = routed_models(plan, group_of(plan, "aws"))[0]
    assert {router.slot for router in model.routers} == {"blue", "green"}
    pythonpath = install(tmp_path, files)
    gate, front = free_port(), free_port()
    spec = json.loads(files[model.spec_path])
    with ExitStack() as stack:
        for router in model.routers:
            replica = stack.enter_context(_replica(router.slot))
            command = exec_start(files[f"{UNIT_DIR}/{router.unit}.service"])
            port = free_port()
            command[0] = str(router_binary())
            command[command.index("--port") + 1] = str(port)
            command[command.index("--prometheus-port") + 1] = str(free_port())
            stack.enter_context(
                _process(command, f"http://127.0.0.1:{port}/liveness", stderr=subprocess.DEVNULL)
            )
            spec["slots"][router.slot] |= {"router": f"http://127.0.0.1:{port}", "replicas": [replica.url]}
            spec["slots"][router.slot]["replica"] = replica
        replicas = {slot: spec["slots"][slot].pop("replica") for slot in spec["slots"]}
        # The cloud plays no part here: `static` lists the replicas the cloud would report.
        spec |= {"cloud": "static", "listen_port": gate, "sync_interval_s": 0.2}
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        agent = [sys.executable, "-m", "llmdeploy.routing.agent", str(tmp_path / "spec.json")]
        environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(pythonpath)}
        stack.enter_context(_process(agent, f"http://127.0.0.1:{gate}/", env=environ, cwd=tmp_path))
        conf = files[NGINX_CONF].replace(f"listen {ROUTER_PORT} ", f"listen 127.0.0.1:{front} ")
        conf = conf.replace(f"server 127.0.0.1:{model.gate_port};", f"server 127.0.0.1:{gate};")
        stack.enter_context(_process(_nginx(conf, tmp_path), f"http://127.0.0.1:{front}/health"))

        answers = [_post(front, f"{model.route_prefix}v1/completions") for _ in range(20)]
        missing = _post(front, "/no-such-model/v1/completions")

    assert [status for status, _ in answers] == [200] * 20
    assert json.loads(answers[0][1])["choices"][0]["text"] == "Hello"
    served = {slot: replica.requests for slot, replica in replicas.items()}
    # The plan's 95/5 split, exactly; the prefix stripped; the API key passed on for the replica to check.
    assert {slot: len(requests) for slot, requests in served.items()} == {"blue": 19, "green": 1}
    assert {request for requests in served.values() for request in requests} == {("/v1/completions", KEY)}
    assert missing == (404, b'{"error":"no such model"}')
