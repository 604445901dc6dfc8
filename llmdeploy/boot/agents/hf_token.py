"""Fetch the Hugging Face token from the cloud's secret store with the instance identity.

Writes `HF_TOKEN=<value>` to a root-only file on tmpfs ($TOKEN_FILE) for `docker run --env-file`.
The value never reaches a log, an argument list or the disk image.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .metadata import Metadata, log
from .secret_store import fetch, write_private


def main() -> int:
    cloud, name = os.environ["CLOUD"], os.environ["HF_TOKEN_SECRET"]
    try:
        token = fetch(cloud, name, Metadata(cloud))
    except Exception as error:  # one readable line for the journal, never the secret
        log(f"cannot read the Hugging Face token from secret {name!r} on {cloud}: {error}")
        return 1
    write_private(Path(os.environ.get("TOKEN_FILE", "/run/llmdeploy/hf-token.env")), f"HF_TOKEN={token}\n")
    log(f"Hugging Face token read from secret {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
