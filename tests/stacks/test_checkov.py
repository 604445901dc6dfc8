"""checkov on every synthesized AWS stack: zero failed checks; every skip is in code, with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmdeploy.ci.checkov import Scan, scan
from tests.fixtures_synth import Stack
from tests.tools import checkov


@pytest.fixture(scope="module")
def report(aws_stacks: dict[str, Stack]) -> Scan:
    binary = checkov()
    if binary is None:
        pytest.skip("checkov is not installed (scripts/setup puts it in .venv-checkov)")
    root = Path(next(iter(aws_stacks.values())).folder.parent)
    return scan(binary, root)


def test_no_failed_checks(report: Scan) -> None:
    assert report.passed > 0
    assert [f"{f.file}: {f.check} on {f.resource}" for f in report.failed] == []


def test_every_skip_has_a_reason_and_is_used(report: Scan) -> None:
    assert all(len(finding.reason) > 20 for finding in report.skipped)
    assert [f"{f.file}: {f.check} on {f.resource}" for f in report.unused] == []
