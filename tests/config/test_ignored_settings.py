"""A setting a cloud's stack would ignore is refused on that cloud, naming the key and the way out.

Each entry of llmdeploy/capabilities.py that a cloud lacks was found by reading what its constructs
set (modules/<cloud>/); the same setting on a cloud that honours it is accepted.
"""

from __future__ import annotations

import pytest

from llmdeploy.capabilities import CAPABILITIES
from llmdeploy.catalog import CLOUDS
from llmdeploy.config import load_environment
from tests.config.test_cloud_refusals import AZURE, GCP, paths_of, with_clouds
from tests.conftest import MINIMAL, WriteEnv

PUBLIC = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n"
ON_GCP = PUBLIC + with_clouds(GCP, types="{aws: [g6.xlarge], gcp: [g2-standard-8]}")
ON_AZURE = PUBLIC + with_clouds(AZURE, types="{aws: [g6.xlarge], azure: [Standard_NC8as_T4_v3]}")
ROUND_ROBIN = "    load_balancing: {algorithm: round_robin}\n"
AZURE_BALANCING = "    load_balancing: {algorithm: round_robin, request_timeout_s: 240}\n"

#: (environment, the model's setting, refused key, what the message names)
REFUSED = [
    (ON_GCP, "    autoscaling: {scale_out_cooldown_s: 300}\n", "autoscaling.scale_out_cooldown_s", "gcp"),
    (ON_GCP, "    load_balancing: {idle_timeout_s: 900}\n", "load_balancing.idle_timeout_s", "gcp"),
    (ON_AZURE + ROUND_ROBIN, "    health_check: {timeout_s: 4}\n", "health_check.timeout_s", "azure"),
    (
        ON_AZURE + ROUND_ROBIN,
        "    health_check: {healthy_threshold: 3}\n",
        "health_check.healthy_threshold",
        "azure",
    ),
    (MINIMAL, "    autoscaling: {scale_out_cooldown_s: 300}\n", "autoscaling.scale_out_cooldown_s", "aws"),
]


@pytest.mark.parametrize(
    ("base", "setting", "key", "cloud"), REFUSED, ids=[row[2] + "-" + row[3] for row in REFUSED]
)
def test_a_setting_the_cloud_ignores_is_refused(
    write_env: WriteEnv, base: str, setting: str, key: str, cloud: str
) -> None:
    message = paths_of(write_env(base + setting))[f"models[0].{key}"]
    assert f"{cloud} cannot do" in message and f"remove {key}" in message


@pytest.mark.parametrize(
    "setting",
    [
        "    autoscaling: {scale_out_cooldown_s: 300}\n" + AZURE_BALANCING,
        "    load_balancing: {algorithm: round_robin, request_timeout_s: 240, idle_timeout_s: 900}\n",
    ],
)
def test_azure_honours_what_others_ignore(write_env: WriteEnv, setting: str) -> None:
    azure_only = MINIMAL.replace(
        "  aws: {region: us-east-1, zones: [us-east-1a, us-east-1b]}\n", AZURE
    ).replace("{aws: [g6.xlarge]}", "{azure: [Standard_NC24ads_A100_v4]}")
    config = load_environment(write_env(PUBLIC + azure_only + setting))
    assert [cloud for cloud in ("aws", "gcp", "azure") if getattr(config.clouds, cloud, None)] == ["azure"]


def test_every_cloud_states_every_feature() -> None:
    """The README matrix and the validator read the same table: no cloud may leave a feature out."""
    features = {frozenset(CAPABILITIES[cloud]) for cloud in CLOUDS}
    assert len(features) == 1
