"""Prepare jsii's package cache once per machine, so that every synth finds the providers ready.

The jsii runtime unpacks each package it loads into a cache (~/.cache/aws/jsii/package-cache on
Linux) and then, in a background worker, writes an index of its type definitions next to it.
Without that index every later load parses the whole assembly: 155 MB of JSON for aws, about
1.3 GiB of memory and several seconds per synth. A synth child exits before the worker is done,
so the index could be left unwritten for good. This module loads providers and waits until jsii
has written their index: `scripts/setup` runs it for every installed provider, and each synth
child for the providers it used, which only costs a wait on the first synth on a machine.

    python -m modules.package_cache [aws|google|azurerm ...]

The layout it waits for is jsii 1.142's (pinned in pyproject.toml); on another layout it waits for
nothing and says so rather than failing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: Provider name -> Python package of its bindings, as pinned in pyproject.toml.
PROVIDERS = {
    "aws": "cdktn_provider_aws",
    "google": "cdktn_provider_google",
    "azurerm": "cdktn_provider_azurerm",
}
#: What jsii 1.142 writes last when it has indexed a package: `<cache>/<name>/<version>/<hash>/`.
INDEX_MANIFEST = ".jsii.runtime.v1.json"
TIMEOUT_S = 180.0


def cache_root() -> Path | None:
    """Where the jsii runtime keeps unpacked packages, or None when its cache is switched off."""
    if os.environ.get("JSII_RUNTIME_PACKAGE_CACHE", "enabled").lower() != "enabled":
        return None
    configured = os.environ.get("JSII_RUNTIME_PACKAGE_CACHE_ROOT")
    if configured:
        return Path(configured)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "com.amazonaws.jsii" / "package-cache"
    return Path.home() / ".cache" / "aws" / "jsii" / "package-cache"


def _package_dir(root: Path, provider: str) -> Path:
    version = importlib.metadata.version(PROVIDERS[provider].replace("_", "-"))
    return root / "@cdktn" / f"provider-{provider}" / version


def indexed(root: Path, provider: str) -> bool:
    """Whether jsii has indexed the installed version of a provider's bindings."""
    return any(_package_dir(root, provider).glob(f"*/{INDEX_MANIFEST}"))


def _unpacked_at(package: Path) -> float:
    try:
        return package.stat().st_mtime
    except OSError:
        return -1.0


def loaded_providers() -> list[str]:
    """The providers whose bindings this process has imported."""
    return [name for name, package in PROVIDERS.items() if package in sys.modules]


def warm(providers: Sequence[str], timeout_s: float = TIMEOUT_S, unpacked_since: float = 0.0) -> list[str]:
    """Load `providers` and wait until jsii has indexed them; return those still not indexed.

    Only a package unpacked where this module expects it, at `unpacked_since` (a time.time()) or
    later, is waited for: a jsii that lays its cache out differently, or a package whose indexing
    failed before, costs no wait.
    """
    root = cache_root()
    if root is None:
        return list(providers)
    for name in providers:
        importlib.import_module(PROVIDERS[name])
    deadline = time.monotonic() + timeout_s
    waiting = [
        name
        for name in providers
        if not indexed(root, name) and _unpacked_at(_package_dir(root, name)) >= unpacked_since
    ]
    while waiting and time.monotonic() < deadline:
        time.sleep(0.1)
        waiting = [name for name in waiting if not indexed(root, name)]
    return [name for name in providers if not indexed(root, name)]


def main(argv: Sequence[str]) -> int:
    unknown = [name for name in argv if name not in PROVIDERS]
    if unknown:
        print(
            f"unknown provider {', '.join(unknown)}: expected some of {', '.join(PROVIDERS)}", file=sys.stderr
        )
        return 2
    if cache_root() is None:
        print("the jsii package cache is switched off (JSII_RUNTIME_PACKAGE_CACHE): nothing to prepare")
        return 0
    installed = [
        name for name in (argv or PROVIDERS) if importlib.util.find_spec(PROVIDERS[name]) is not None
    ]
    started = time.monotonic()
    missing = warm(installed)
    seconds = time.monotonic() - started
    ready = [name for name in installed if name not in missing]
    print(f"jsii package cache ready for {', '.join(ready) or 'no provider'} ({seconds:.1f} s)")
    if missing:
        print(
            f"note: jsii did not index {', '.join(missing)} within {TIMEOUT_S:.0f} s; synth still works, "
            "but each synth parses the whole provider (slower, more memory)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
