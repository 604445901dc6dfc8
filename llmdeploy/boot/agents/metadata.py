"""Instance metadata services of AWS (IMDSv2), GCP and Azure, over plain HTTP, and the cloud module.

What differs per cloud (secret store, metrics, notices) lives in llmdeploy_agents.<cloud>: a VM's
bundle carries only its own cloud's module.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_S = 2.0
_DEFAULT_URLS = {
    "aws": "http://169.254.169.254",
    "gcp": "http://metadata.google.internal/computeMetadata/v1",
    "azure": "http://169.254.169.254/metadata",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cloud_module(cloud: str) -> Any:
    """llmdeploy_agents.aws, .gcp or .azure."""
    return importlib.import_module(f"{__package__}.{cloud}")


@functools.cache
def aws_client(service: str) -> Any:
    """A boto3 client: only the AWS agents need boto3 (installed at boot, see templates/README.md)."""
    import boto3  # type: ignore[import-untyped]

    return boto3.client(service)


def request(
    method: str, url: str, headers: dict[str, str] | None = None, body: Any = None, timeout: float = 10.0
) -> tuple[int, bytes]:
    """Status and body of one HTTP call; an HTTP error status is returned, a dead peer raises OSError."""
    data = None if body is None else json.dumps(body).encode()
    wanted = {**(headers or {}), **({"Content-Type": "application/json"} if data else {})}
    call = urllib.request.Request(url, data=data, headers=wanted, method=method)
    try:
        with urllib.request.urlopen(call, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def authorized(method: str, url: str, token: str, body: Any = None) -> bytes:
    """The body of a call with an OAuth token; any status outside 2xx raises OSError."""
    status, answer = request(method, url, {"Authorization": f"Bearer {token}"}, body)
    if not 200 <= status < 300:
        raise OSError(f"{url} answered HTTP {status}: {answer[:200]!r}")
    return answer


class Metadata:
    """GET on the metadata service of the cloud in $CLOUD (base URL overridable by $METADATA_URL)."""

    def __init__(self, cloud: str, base_url: str | None = None) -> None:
        self.cloud = cloud
        self.base_url = (base_url or os.environ.get("METADATA_URL") or _DEFAULT_URLS[cloud]).rstrip("/")
        self._token = ""
        self._token_expiry = 0.0

    def get(self, path: str, timeout: float = TIMEOUT_S) -> str | None:
        """The text at `path`, or None when the service answers 404 (nothing there)."""
        status, body = request("GET", f"{self.base_url}/{path}", self._headers(), timeout=timeout)
        if status == 401 and self.cloud == "aws":  # the IMDSv2 session token expired: take a new one
            self._token_expiry = 0.0
            status, body = request("GET", f"{self.base_url}/{path}", self._headers(), timeout=timeout)
        if status == 404:
            return None
        if status != 200:
            raise OSError(f"metadata {path} answered HTTP {status}")
        return body.decode()

    def get_json(self, path: str, timeout: float = TIMEOUT_S) -> Any:
        text = self.get(path, timeout)
        return None if text is None else json.loads(text)

    def _headers(self) -> dict[str, str]:
        if self.cloud == "gcp":
            return {"Metadata-Flavor": "Google"}
        if self.cloud == "azure":
            return {"Metadata": "true"}
        return {"X-aws-ec2-metadata-token": self._imds_token()}

    def _imds_token(self) -> str:
        # IMDSv2: a session token from a PUT, sent with every GET; refreshed well before its 6 h end.
        if time.time() >= self._token_expiry:
            status, body = request(
                "PUT",
                f"{self.base_url}/latest/api/token",
                {"X-aws-ec2-metadata-token-ttl-seconds": "21600"},
                timeout=TIMEOUT_S,
            )
            if status != 200:
                raise OSError(f"IMDSv2 token request answered HTTP {status}")
            self._token, self._token_expiry = body.decode(), time.time() + 3600
        return self._token

    def access_token(self, resource: str = "") -> str:
        """An OAuth token of the instance identity (GCP service account, Azure managed identity)."""
        if self.cloud == "gcp":
            answer = self.get_json("instance/service-accounts/default/token")
        else:
            answer = self.get_json(f"identity/oauth2/token?api-version=2018-02-01&resource={resource}")
        if not answer:
            raise OSError("the instance has no identity to take a token from")
        return str(answer["access_token"])

    def azure_compute(self) -> dict[str, Any]:
        answer = self.get_json("instance/compute?api-version=2021-02-01")
        if not answer:
            raise OSError("Azure instance metadata has no compute section")
        return dict(answer)
