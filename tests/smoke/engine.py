"""A stand-in inference engine on 127.0.0.1 speaking the OpenAI-compatible API as TGI and vLLM do,
and the real nginx proxy (the rendered boot config) in front of it.

The engine lists one model id on `GET /v1/models` and streams a chat completion as server-sent
events, one token per event with a pause between them, then a usage event and `data: [DONE]`.
It records the requests' paths and Authorization headers, and the slot header each carried.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llmdeploy.boot.context import template_context
from llmdeploy.boot.render import render
from llmdeploy.plan.routes import SLOT_HEADER
from tests.boot.bundles import first_fleet, plan
from tests.boot.test_proxy import _free_port, _wait_listening

TOKENS = ("The", " sea", " is", " wide", ".")
TOKEN_PAUSE_S = 0.02


class Engine(ThreadingHTTPServer):
    """Serves `model_id`; `seen` holds (method, path, Authorization header or None) per request,
    `slots` the slot header (SLOT_HEADER) of each request, or None."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.seen: list[tuple[str, str, str | None]] = []
        self.slots: list[str | None] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port


class _Handler(BaseHTTPRequestHandler):
    server: Engine
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # As real engines' servers do: each token leaves at once, not held back by Nagle's algorithm.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._record()
        if self.path != "/v1/models":
            return self._json(404, {"error": "not found"})
        self._json(200, {"object": "list", "data": [{"id": self.server.model_id, "object": "model"}]})

    def do_POST(self) -> None:
        self._record()
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        if self.path != "/v1/chat/completions" or not request.get("stream"):
            return self._json(404, {"error": "not found"})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for token in TOKENS:
            self._event(
                {"model": self.server.model_id, "choices": [{"index": 0, "delta": {"content": token}}]}
            )
            time.sleep(TOKEN_PAUSE_S)
        self._event({"choices": [], "usage": {"completion_tokens": len(TOKENS)}})
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _record(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self.server.slots.append(self.headers.get(SLOT_HEADER))

    def _event(self, body: object) -> None:
        self._chunk(f"data: {json.dumps(body)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: requests are recorded in `seen`."""


@contextmanager
def engine(model_id: str) -> Iterator[Engine]:
    server = Engine(model_id)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def proxy(engine_port: int, folder: Path) -> Iterator[str]:
    """nginx running dev's rendered proxy config in front of the engine; yields the model's endpoint URL.

    The URL carries the model's route prefix, as the load balancer forwards it (`/chat/`).
    """
    if shutil.which("nginx") is None:
        pytest.skip("no nginx binary on PATH (apt-get install nginx-light) to run the rendered config")
    dev = plan("dev")
    fleet = first_fleet("dev", "aws")
    port = _free_port()
    stand_in = dataclasses.replace(fleet.engine, container_port=engine_port)
    context = template_context(dev, fleet)
    (folder / "proxy.conf").write_text(
        render("boot/proxy.conf.j2", {**context, "engine": stand_in, "proxy_port": port})
    )
    temp = " ".join(
        f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"daemon off; pid {folder / 'nginx.pid'}; error_log {folder / 'error.log'};\n"
        f"events {{}}\nhttp {{ {temp} include {folder / 'proxy.conf'}; }}\n"
    )
    process = subprocess.Popen(
        ["nginx", "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(folder / "nginx.conf")]
    )
    try:
        _wait_listening(port, process)
        prefix = next(model.route_prefix for model in dev.models if model.name == fleet.model)
        yield f"http://127.0.0.1:{port}{prefix}"
    finally:
        process.terminate()
        process.wait(timeout=10)
