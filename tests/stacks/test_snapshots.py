"""The AWS stacks' resource addresses match their golden snapshots (see tests/stacks/golden.py).

Regenerate after an intended change: LLMDEPLOY_UPDATE_GOLDEN=1 pytest tests/stacks/test_snapshots.py
"""

from __future__ import annotations

from tests.fixtures_synth import Stack
from tests.stacks.golden import GOLDEN, snapshot, snapshot_mismatches
from tests.stacks.golden import write_snapshot as _write

__all__ = ["GOLDEN", "_write", "snapshot"]  # still imported from here by tests/modules/cloud_stacks.py


def test_resource_addresses_match_the_golden_snapshots(aws_stacks: dict[str, Stack]) -> None:
    mismatched = snapshot_mismatches(aws_stacks.values())
    assert mismatched == [], (
        f"resource addresses changed for {mismatched}: real resources would be replaced. If intended, "
        "run LLMDEPLOY_UPDATE_GOLDEN=1 pytest tests/stacks/test_snapshots.py and review the diff."
    )
