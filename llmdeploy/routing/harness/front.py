"""The real router binary and the real nginx, started on loopback in front of a fleet."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from llmdeploy.routing.harness.procs import free_port, stop, wait_http

ROUTER_BINARY = "vllm-router"
# cache_aware sends a prefix miss to one worker until its in-flight count exceeds the least loaded one's by
# --balance-abs-threshold (default 64, far above a replica's batch): the guard is set to half a batch.
BALANCE_GUARD = ("--balance-abs-threshold", "8", "--balance-rel-threshold", "1.5")


def router_binary() -> str | None:
    """The vllm-router entry point: next to this Python (the venv), else on PATH."""
    beside = Path(sys.executable).parent / ROUTER_BINARY
    return str(beside) if beside.exists() else shutil.which(ROUTER_BINARY)


@dataclass
class Router:
    """A running vllm-router and its worker API (found by running 0.1.17; see the report)."""

    port: int
    metrics_port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[str]:
        with urllib.request.urlopen(f"{self.url}/list_workers", timeout=5) as answer:
            urls: list[str] = json.load(answer)["urls"]
            return urls

    def add_worker(self, url: str) -> None:
        """POST /add_worker?url=: returns once the router saw the worker healthy."""
        self._post(f"/add_worker?url={urllib.parse.quote(url, safe='')}")

    def remove_worker(self, url: str) -> None:
        self._post(f"/remove_worker?url={urllib.parse.quote(url, safe='')}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as answer:
            text: str = answer.read().decode()
            return text

    def _post(self, path: str) -> None:
        request = urllib.request.Request(f"{self.url}{path}", method="POST")
        with urllib.request.urlopen(request, timeout=60):
            pass


def start_router(worker_urls: list[str], policy: str = "cache_aware", *extra: str) -> Router:
    binary = router_binary()
    if binary is None:
        raise RuntimeError(f"no {ROUTER_BINARY} binary (pip install vllm-router)")
    port, metrics_port = free_port(), free_port()
    command = [binary, "--host", "127.0.0.1", "--port", str(port), "--prometheus-port", str(metrics_port)]
    command += ["--policy", policy, "--log-level", "warning", "--worker-urls", *worker_urls, *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    router = Router(port, metrics_port, process)
    wait_http(f"{router.url}/liveness", process)
    return router


@dataclass
class Nginx:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_nginx(upstreams: list[str], workdir: Path, balance: str = "least_conn") -> Nginx:
    """nginx as on the VMs (HTTP/1.1 upstream keep-alive, no buffering) over `upstreams`.

    `balance` least_conn is the baseline "least outstanding requests" balancer.
    """
    if shutil.which("nginx") is None:
        raise RuntimeError("no nginx binary on PATH (apt-get install nginx-light)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = " ".join(f"server {urllib.parse.urlsplit(u).netloc} max_fails=0;" for u in upstreams)
    temp = " ".join(f"{kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi"))
    temp += f" uwsgi_temp_path {workdir / 'uwsgi'}; scgi_temp_path {workdir / 'scgi'};"
    # Run as root (CI), nginx's workers would be `nobody`, who cannot search pytest's 0700 tmp folders.
    user = "user root root;" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(
        f"daemon off; {user} worker_processes 1; pid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'error.log'};\n"
        "events { worker_connections 4096; }\n"
        f"http {{ {temp} access_log off;\n"
        f"  upstream fleet {{ {balance}; {servers} keepalive 64; }}\n"
        f"  server {{ listen 127.0.0.1:{port};\n"
        '    location / { proxy_pass http://fleet; proxy_http_version 1.1; proxy_set_header Connection "";\n'
        "      proxy_buffering off; proxy_request_buffering off; proxy_read_timeout 600s;\n"
        "      proxy_next_upstream error timeout http_502 http_503; } } }\n"
    )
    command = [
        "nginx",
        "-e",
        str(workdir / "error.log"),
        "-p",
        str(workdir),
        "-c",
        str(workdir / "nginx.conf"),
    ]
    process = subprocess.Popen(command)
    nginx = Nginx(port, process)
    wait_http(f"{nginx.url}/", process)
    return nginx


def stop_all(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        stop(process)
