"""Loopback HTTP stand-ins for the metadata services and cloud APIs the VM agents call.

Each test starts its servers on 127.0.0.1 (a free port) and stops them; every request is recorded.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float = field(default_factory=time.time)


#: (status, body) or (status, body, content type)
Answer = tuple[int, str] | tuple[int, str, str]
App = Callable[[Call], Answer]


class StandIn:
    """A threaded HTTP server on 127.0.0.1 answering with `app` and recording every call."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.calls: list[Call] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                headers = {name.lower(): value for name, value in self.headers.items()}
                call = Call(self.command, self.path, headers, self.rfile.read(length))
                stand_in.calls.append(call)
                status, body, *kind = stand_in.app(call)
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind[0] if kind else "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = _serve

            def log_message(self, format: str, *args: object) -> None:
                """Silent: the calls are recorded instead."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self, method: str = "GET") -> list[str]:
        return [call.path for call in self.calls if call.method == method]


@contextmanager
def serving(app: App) -> Iterator[StandIn]:
    stand_in = StandIn(app)
    stand_in.thread.start()
    try:
        yield stand_in
    finally:
        stand_in.server.shutdown()
        stand_in.server.server_close()


def routes(table: dict[str, Callable[[], str | None]]) -> App:
    """An app answering GET/PUT paths (query included) from `table`; None or a missing path is 404."""

    def app(call: Call) -> Answer:
        answer = table.get(call.path, lambda: None)()
        return (404, "not found") if answer is None else (200, answer)

    return app


def after(delay_s: float, value: str) -> Callable[[], str | None]:
    """A route that is absent (404) for `delay_s` after its first request, then answers `value`."""
    first: list[float] = []

    def answer() -> str | None:
        first.append(time.time())
        return value if time.time() - first[0] >= delay_s else None

    return answer


def forwarding(target: str, intercept: dict[str, Callable[[dict[str, str]], Answer]]) -> App:
    """A proxy to `target` (the AWS emulator) that answers the query-API actions in `intercept` itself."""

    def app(call: Call) -> Answer:
        params = {key: values[0] for key, values in urllib.parse.parse_qs(call.body.decode()).items()}
        if params.get("Action") in intercept:
            return intercept[params["Action"]](params)
        headers = {
            key: value for key, value in call.headers.items() if key.lower() not in {"host", "content-length"}
        }
        request = urllib.request.Request(
            target + call.path, data=call.body or None, headers=headers, method=call.method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return (
                    response.status,
                    response.read().decode(),
                    response.headers.get("Content-Type", "text/xml"),
                )
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers.get("Content-Type", "text/xml")

    return app
