"""A canned cloud API on 127.0.0.1: answers each (method, path) with a JSON body, records every request.

The status clients are pointed at it through their SDKs' documented endpoint options (Google:
`client_options.api_endpoint`; Azure: `base_url`), so the SDKs run unmodified: they build the
requests, send them over real HTTP (HTTPS for Azure, whose SDK sends bearer tokens only over TLS)
and parse the answers. Bodies follow the shapes of the APIs' published references.

Google clients that speak only gRPC (google-cloud-monitoring) get `GrpcLoopbackApi`: a real gRPC
server answering each method with a canned message of the API's own types, reached over a plain
channel the client is given as its transport's `channel`.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc


@dataclass(frozen=True)
class Seen:
    """One request the API received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class LoopbackApi:
    """Routes (method, path) to (status, body); unknown routes answer 404 in `not_found`'s shape.

    A body may be a function of the request (a `Seen`), for APIs that answer by what is asked.
    """

    not_found: Any
    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def answer(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.routes[(method, path)] = (status, body)

    def requests_to(self, path: str) -> list[Seen]:
        return [request for request in self.seen if request.path == path]


@contextmanager
def serving(api: LoopbackApi, certificate: tuple[Path, Path] | None = None) -> Iterator[LoopbackApi]:
    """Serve `api` on a free loopback port until the block ends (HTTPS with `certificate`)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _respond(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Seen(
                self.command,
                split.path,
                parse_qs(split.query),
                dict(self.headers),
                json.loads(raw) if raw else None,
            )
            api.seen.append(request)
            status, body = api.routes.get((self.command, split.path), (404, api.not_found))
            if callable(body):
                body = body(request)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _respond

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on `api.seen`."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    api.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own authority, and its key (PEM files in `folder`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "loopback.crt", folder / "loopback.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class GrpcLoopbackApi:
    """One gRPC service's unary methods, each answering a canned message; records every request.

    `methods` maps a method name to its (request, response) proto-plus types. An answer is a
    response message, a function of the request returning one, or a (status code, details) pair to
    fail with; methods without an answer fail with NOT_FOUND.
    """

    service: str
    methods: dict[str, tuple[Any, Any]]
    answers: dict[str, Any] = field(default_factory=dict)
    seen: list[tuple[str, Any]] = field(default_factory=list)
    address: str = ""

    def answer(self, method: str, response: Any) -> None:
        self.answers[method] = response

    def requests_to(self, method: str) -> list[Any]:
        return [request for name, request in self.seen if name == method]

    def handler(self, method: str) -> Callable[[Any, grpc.ServicerContext], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            self.seen.append((method, request))
            answer = self.answers.get(method, (grpc.StatusCode.NOT_FOUND, f"{method}: nothing canned"))
            if isinstance(answer, tuple):
                context.abort(*answer)
            return answer(request) if callable(answer) else answer

        return handle


@contextmanager
def serving_grpc(api: GrpcLoopbackApi) -> Iterator[GrpcLoopbackApi]:
    """Serve `api` over plain gRPC on a free loopback port until the block ends."""
    handlers = {
        method: grpc.unary_unary_rpc_method_handler(
            api.handler(method),
            request_deserializer=request_type.deserialize,
            response_serializer=response_type.serialize,
        )
        for method, (request_type, response_type) in api.methods.items()
    }
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(api.service, handlers),))
    api.address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    try:
        yield api
    finally:
        server.stop(grace=None).wait()
