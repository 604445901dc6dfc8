"""Small synthetic traces and the prod example's first AWS fleet, for replay tests."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from llmdeploy.config import load
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan, FleetPlan
from llmdeploy.simulate.model import ThroughputModel
from llmdeploy.simulate.run import pick_fleet
from llmdeploy.simulate.throughput import derive
from llmdeploy.simulate.traces import PreemptionTrace, Traffic, ZoneTrace
from tests.conftest import EXAMPLE_VARIABLES

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
#: Constant traffic: 300 requests a minute for an hour, 500 prompt and 100 output tokens each.
STEADY = Traffic(per_minute=(300,) * 60, tokens=((500, 100),))


@pytest.fixture
def plan(monkeypatch: pytest.MonkeyPatch) -> DeploymentPlan:
    for name, value in EXAMPLE_VARIABLES.items():
        monkeypatch.setenv(name, value)
    return build_plan(load("prod", Path("environments")))


@pytest.fixture
def fleet(plan: DeploymentPlan) -> FleetPlan:
    return pick_fleet(plan, None, "aws")


@pytest.fixture
def served(plan: DeploymentPlan, fleet: FleetPlan) -> ThroughputModel:
    """What one replica of the fleet serves of STEADY's requests (derived from its GPU and model)."""
    prompt, output = STEADY.tokens[0]
    return derive(fleet, plan.models[0].memory, prompt, output).model


def zones(pattern: str, gap_s: int = 3600) -> dict[str, ZoneTrace]:
    """Every zone with the same availability: one character per `gap_s`, '1' open, '0' dark."""
    available = tuple(mark == "1" for mark in pattern)
    return {zone: ZoneTrace(zone, gap_s, available) for zone in ZONES}


def fixed_size(fleet: FleetPlan, replicas: int) -> FleetPlan:
    return replace(fleet, min_size=replicas, max_size=replicas, desired_size=replicas)


def write_spot(folder: Path, pattern: str, gap_s: int = 3600) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for zone in ZONES:
        data = [int(mark) for mark in pattern]
        (folder / f"{zone}_v100_1.json").write_text(
            json.dumps({"metadata": {"gap_seconds": gap_s}, "data": data})
        )
    return folder


def write_traffic(path: Path, minutes: int = 10, per_minute: int = 30) -> Path:
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for minute in range(minutes):
        rows += [
            f"2023-11-16 18:{minute:02d}:{second * 2:02d}.1234567,500,100" for second in range(per_minute)
        ]
    path.write_text("\n".join(rows) + "\n")
    return path


def preempting(pattern: str, gap_s: int = 600, only: str | None = None) -> dict[str, PreemptionTrace]:
    """Preemption traces, one character per `gap_s`: '1' the instance runs, '0' it is down.

    Every zone gets the same trace, or only zone `only` does. A '1' then '0' is one preemption.
    """
    up = tuple(mark == "1" for mark in pattern)
    return {zone: PreemptionTrace(zone, "v100_1", gap_s, up) for zone in ZONES if only in (None, zone)}
