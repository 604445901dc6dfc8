"""The proxy's gatekeeper on loopback: checks every keyed request, and answers Azure's health extension.

nginx sends each request's headers here (`auth_request`) before proxying it to the engine:
- GET /auth: 204 when `Authorization: Bearer <key>` matches one of the keys in $API_KEYS_FILE (when
  $API_KEY_SECRET is set; compared in constant time) and, on Azure, `X-Azure-FDID` is this deployment's
  Front Door profile id (read from the scale set's user data); 401/403 otherwise. No keys yet, no entry.
- GET /app-health: 200 {"ApplicationHealthState": "Healthy"} when the engine's health answers 2xx, else
  503 and "Unhealthy" (Azure Application Health extension 2.0 rich health states).
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .metadata import Metadata, cloud_module, log, request


def key_matches(authorization: str, keys: list[str]) -> bool:
    """Whether the header carries one of `keys`; every key is compared, each in constant time."""
    scheme, _, presented = authorization.partition(" ")
    # http.server decodes headers as latin-1: encoding back gives the bytes the client sent.
    offered = presented.strip().encode("latin-1")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(offered, key.encode())
    return scheme.lower() == "bearer" and matched


class FrontDoorId:
    """This deployment's Front Door profile id (X-Azure-FDID), read until found."""

    def __init__(self, metadata: Metadata) -> None:
        self.metadata, self.value, self.tried_at = metadata, "", 0.0

    def get(self) -> str:
        if not self.value and time.time() - self.tried_at > 10:
            self.tried_at = time.time()
            try:
                self.value = cloud_module("azure").front_door_id(self.metadata)
            except (OSError, ValueError) as error:
                log(f"the Front Door id is not readable from the user data: {error}")
            if not self.value:
                log("no Front Door id in the scale set's user data yet: refusing every request")
        return self.value


class Gate:
    def __init__(self, keys_file: Path | None, front_door: FrontDoorId | None, health_url: str) -> None:
        self.keys_file, self.front_door, self.health_url = keys_file, front_door, health_url

    def auth(self, headers: dict[str, str]) -> int:
        if self.front_door is not None:
            expected = self.front_door.get().encode()
            offered = headers.get("x-azure-fdid", "").encode("latin-1")
            if not expected or not hmac.compare_digest(offered, expected):
                return 403
        if self.keys_file is not None and not key_matches(headers.get("authorization", ""), self._keys()):
            return 401
        return 204

    def _keys(self) -> list[str]:
        try:
            return (
                [line for line in self.keys_file.read_text().splitlines() if line] if self.keys_file else []
            )
        except OSError:
            return []

    def app_health(self) -> tuple[int, str]:
        try:
            status, _ = request("GET", self.health_url, timeout=5)
        except OSError:
            status = 0
        state = "Healthy" if 200 <= status < 300 else "Unhealthy"
        return (200 if state == "Healthy" else 503), json.dumps({"ApplicationHealthState": state})


def serve(gate: Gate, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/auth":
                status, body = gate.auth({name.lower(): value for name, value in self.headers.items()}), ""
            elif self.path == "/app-health":
                status, body = gate.app_health()
            else:
                status, body = 404, ""
            payload = body.encode()
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", "Bearer")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            """Silent: one line per request would flood the journal."""

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> int:
    env = os.environ
    keys = Path(env["API_KEYS_FILE"]) if env.get("API_KEY_SECRET") else None
    cloud = env["CLOUD"]
    front_door = FrontDoorId(Metadata(cloud)) if cloud == "azure" else None
    server = serve(Gate(keys, front_door, env["ENGINE_HEALTH_URL"]), int(env["GATE_PORT"]))
    log(f"gate listening on 127.0.0.1:{env['GATE_PORT']} (API key: {keys is not None})")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
