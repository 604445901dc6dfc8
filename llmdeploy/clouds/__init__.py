"""One home per cloud: `driver(cloud)` is the registry every cloud-facing part of the core goes through.

Each cloud is a folder with the same files (`resolve.py`, `names.py`, `status.py`, `observer.py`),
imported only when that cloud is used: the cloud SDKs are slow to import.
"""

from __future__ import annotations

import importlib

from llmdeploy.catalog import Cloud
from llmdeploy.clouds.contract import CloudDriver

#: The files every cloud folder has, beside its own (tests/unit/test_layering.py checks it).
CLOUD_FILES = ("__init__.py", "resolve.py", "names.py", "status.py", "observer.py")


def driver(cloud: Cloud) -> CloudDriver:
    """The driver of `cloud` (its module `llmdeploy.clouds.<cloud>` exports `DRIVER`)."""
    module = importlib.import_module(f"llmdeploy.clouds.{cloud}")
    found: CloudDriver = module.DRIVER
    return found
