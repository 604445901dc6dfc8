"""User data stays within each cloud's limit for every example environment and engine."""

from __future__ import annotations

import base64

import pytest

from llmdeploy.boot import user_data
from llmdeploy.boot.size import USER_DATA_LIMITS, check_size, counted_size
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import FleetPlan
from tests.boot.bundles import every_fleet, first_fleet, fleet_id, plan


@pytest.mark.parametrize("case", every_fleet(), ids=fleet_id)
def test_user_data_fits_the_cloud_limit(case: tuple[str, FleetPlan]) -> None:
    env, fleet = case
    size = counted_size(fleet.cloud, user_data(plan(env), fleet))
    # Headroom, so that a growing template fails here before it fails at launch.
    assert size <= USER_DATA_LIMITS[fleet.cloud] * 0.85, f"{size} bytes"


def test_oversized_user_data_is_refused_with_the_fleet_named() -> None:
    fleet = first_fleet("dev", "aws")
    raw = bytes(16385)
    with pytest.raises(OperationError, match="chat-blue on aws is 16385 bytes"):
        check_size(fleet, base64.b64encode(raw).decode())
    # The limit counts the raw bytes: their base64 form is a third longer and still fits.
    check_size(fleet, base64.b64encode(raw[:16384]).decode())
