"""Golden snapshots of each stack's resource addresses (tests/golden/stacks/<stack>.json).

Construct IDs are part of the contract: a changed one replaces real resources. After an intended
change, regenerate the snapshots with

    LLMDEPLOY_UPDATE_GOLDEN=1 pytest tests/stacks tests/modules

and explain the replaced resources in the change's description.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.fixtures_synth import Stack

GOLDEN = REPO / "tests" / "golden" / "stacks"
UPDATE_ENV = "LLMDEPLOY_UPDATE_GOLDEN"


def addresses(doc: dict[str, Any]) -> dict[str, str]:
    """`<type>.<name>` (data sources prefixed `data.`) to construct path, sorted."""
    found = {}
    for block, prefix in (("resource", ""), ("data", "data.")):
        for kind, entries in doc.get(block, {}).items():
            for name, config in entries.items():
                # terraform_remote_state blocks carry no construct metadata: their name is their id.
                found[f"{prefix}{kind}.{name}"] = config.get("//", {}).get("metadata", {}).get("path", name)
    return dict(sorted(found.items()))


def snapshot(stack: Stack) -> dict[str, Any]:
    return {
        "addresses": addresses(stack.doc),
        "outputs": sorted(stack.doc.get("output", {})),
        "variables": sorted(stack.doc.get("variable", {})),
    }


def write_snapshot(path: Path, current: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def snapshot_mismatches(stacks: Iterable[Stack]) -> list[str]:
    """Stacks whose addresses differ from their snapshot; with $LLMDEPLOY_UPDATE_GOLDEN=1, rewritten."""
    update = os.environ.get(UPDATE_ENV) == "1"
    mismatched = []
    for stack in stacks:
        path = GOLDEN / f"{stack.name}.json"
        current = snapshot(stack)
        if update:
            write_snapshot(path, current)
        elif not path.is_file() or json.loads(path.read_text(encoding="utf-8")) != current:
            mismatched.append(stack.name)
    return mismatched
