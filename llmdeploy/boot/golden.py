"""Regenerate the golden boot bundles under tests/golden/boot/: `python -m llmdeploy.boot.golden`.

One cloud-config per cloud and engine, from the first fleet of environments/prod.yaml on that cloud
served by each engine. Review the diff before committing it: it is exactly what instances will boot.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from llmdeploy.boot.bundle import CLOUD_CONFIG, boot_files
from llmdeploy.catalog import CLOUDS
from llmdeploy.config import load
from llmdeploy.engines import ENGINES, EngineName
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan, FleetPlan

REPO = Path(__file__).resolve().parents[2]
GOLDEN_DIR = REPO / "tests" / "golden" / "boot"
GOLDEN_ENV = "prod"
#: prod.yaml references these; the registry cache hosts hold the AWS account and GCP project.
#: The same values as the tests' (tests/conftest.py EXAMPLE_VARIABLES), whatever the shell says.
_PLACEHOLDERS = {
    "GCP_PROJECT": "llmdeploy-demo-123",
    "AWS_ACCOUNT_ID": "123456789012",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
}


def with_engine(fleet: FleetPlan, engine: EngineName) -> FleetPlan:
    """The fleet served by another engine with its default image, as if the config said so."""
    spec = ENGINES[engine]
    image = fleet.engine_image if engine == fleet.engine.name else spec.image
    health = dataclasses.replace(fleet.health, path=spec.health_path)
    return dataclasses.replace(fleet, engine=spec, engine_image=image, health=health)


def golden_bundles(plan: DeploymentPlan) -> dict[str, str]:
    """`<cloud>-<engine>.yaml` to the cloud-config it must render."""
    return {
        f"{cloud}-{engine}.yaml": boot_files(plan, with_engine(plan.fleets_on(cloud)[0], engine))[
            CLOUD_CONFIG
        ]
        for cloud in CLOUDS
        for engine in ENGINES
    }


def main() -> None:
    os.environ.update(_PLACEHOLDERS)
    plan = build_plan(load(str(REPO / "environments" / f"{GOLDEN_ENV}.yaml")))
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in golden_bundles(plan).items():
        (GOLDEN_DIR / name).write_text(text, encoding="utf-8")
        print(GOLDEN_DIR / name)


if __name__ == "__main__":
    main()
