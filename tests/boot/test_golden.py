"""The rendered bundle of each cloud and engine, compared with its reviewed golden copy."""

from __future__ import annotations

import pytest

from llmdeploy.boot.golden import GOLDEN_DIR, GOLDEN_ENV, golden_bundles
from tests.boot.bundles import plan

BUNDLES = golden_bundles(plan(GOLDEN_ENV))


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_bundle_matches_its_golden_copy(name: str) -> None:
    golden = GOLDEN_DIR / name
    assert golden.exists(), f"{golden} is missing: run `python -m llmdeploy.boot.golden` and review it"
    assert BUNDLES[name] == golden.read_text(encoding="utf-8"), (
        f"the {name} boot bundle changed: review, then regenerate with `python -m llmdeploy.boot.golden`"
    )


def test_every_golden_copy_is_still_produced() -> None:
    assert sorted(path.name for path in GOLDEN_DIR.glob("*.yaml")) == sorted(BUNDLES)
