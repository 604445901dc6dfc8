"""Fetch the Hugging Face token from the cloud's secret store with the instance identity.

Writes `HF_TOKEN=<value>` to a root-only file on tmpfs ($TOKEN_FILE) for `docker run --env-file`.
The value never reaches a log, an argument list or the disk image.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.parse
from pathlib import Path

from .metadata import Metadata, aws_client, log, request


def fetch_aws(name: str) -> str:
    answer = aws_client("secretsmanager").get_secret_value(SecretId=name)
    return str(answer["SecretString"])


def fetch_gcp(name: str, metadata: Metadata) -> str:
    project = metadata.get("project/project-id")
    base = os.environ.get("SECRET_MANAGER_URL", "https://secretmanager.googleapis.com")
    url = f"{base}/v1/projects/{project}/secrets/{name}/versions/latest:access"
    body = _authorized_get(url, metadata.access_token())
    return base64.b64decode(json.loads(body)["payload"]["data"]).decode()


def fetch_azure(name: str, metadata: Metadata) -> str:
    vault = os.environ["KEY_VAULT_NAME"]
    base = os.environ.get("KEY_VAULT_URL", f"https://{vault}.vault.azure.net")
    token = metadata.access_token(urllib.parse.quote("https://vault.azure.net", safe=""))
    body = _authorized_get(f"{base}/secrets/{name}?api-version=7.4", token)
    return str(json.loads(body)["value"])


def _authorized_get(url: str, token: str) -> bytes:
    status, body = request("GET", url, {"Authorization": f"Bearer {token}"})
    if status != 200:
        raise OSError(f"the secret store answered HTTP {status} for {url}")
    return body


def write_token(path: Path, token: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"HF_TOKEN={token.strip()}\n")
    partial.replace(path)


def main() -> int:
    cloud, name = os.environ["CLOUD"], os.environ["HF_TOKEN_SECRET"]
    try:
        if cloud == "aws":
            token = fetch_aws(name)
        elif cloud == "gcp":
            token = fetch_gcp(name, Metadata(cloud))
        else:
            token = fetch_azure(name, Metadata(cloud))
    except Exception as error:  # one readable line for the journal, never the secret
        log(f"cannot read the Hugging Face token from secret {name!r} on {cloud}: {error}")
        return 1
    write_token(Path(os.environ.get("TOKEN_FILE", "/run/llmdeploy/hf-token.env")), token)
    log(f"Hugging Face token read from secret {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
