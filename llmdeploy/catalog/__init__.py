"""The GPU instance catalog: instance shapes, list prices and regions per cloud, shipped as data.

Prices and shapes live in `data/<cloud>.yaml` (each file names its source and date) so that updating a
price is a data change, never a code change. Nothing here talks to a cloud.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal, get_args

import yaml

Cloud = Literal["aws", "gcp", "azure"]
CLOUDS: tuple[Cloud, ...] = get_args(Cloud)


@dataclass(frozen=True)
class InstanceType:
    """One GPU instance type with its list price."""

    cloud: Cloud
    name: str
    gpu: str
    gpu_count: int
    gpu_memory_gib: int
    vcpu: int
    ram_gib: int
    local_nvme_gib: int
    on_demand_usd_hour: float
    spot_discount: float
    source: str
    as_of: str
    #: The GPU's architecture and CUDA compute capability (from data/gpus.yaml).
    architecture: str
    compute_capability: float
    #: Peak memory bandwidth (GB/s) and dense FP16/BF16 tensor TFLOPS of one GPU (data/gpus.yaml names the
    #: datasheets); None where the catalog lacks the figure.
    memory_bandwidth_gb_s: float | None = None
    dense_16bit_tflops: float | None = None
    #: Why llmdeploy cannot run this type, if it cannot (validation refuses it with this reason).
    unusable: str | None = None

    @property
    def total_gpu_memory_gib(self) -> int:
        return self.gpu_count * self.gpu_memory_gib

    @property
    def spot_usd_hour(self) -> float:
        return self.on_demand_usd_hour * (1.0 - self.spot_discount)

    def describe(self) -> str:
        return f"{self.name} ({self.gpu_count}x {self.gpu}, {self.total_gpu_memory_gib} GiB)"


def _load(name: str) -> Any:
    text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@cache
def instance_types(cloud: Cloud) -> dict[str, InstanceType]:
    """All catalogued instance types of a cloud, by name, cheapest first."""
    data = _load(f"{cloud}.yaml")
    gpus: dict[str, dict[str, Any]] = _load("gpus.yaml")
    entries = [
        InstanceType(cloud=cloud, source=data["source"], as_of=data["as_of"], **gpus[entry["gpu"]], **entry)
        for entry in data["instance_types"]
    ]
    entries.sort(key=lambda entry: entry.on_demand_usd_hour)
    return {entry.name: entry for entry in entries}


@cache
def cpu_prices(cloud: Cloud) -> dict[str, float]:
    """USD per hour of the CPU types catalogued for a cloud (the router group's defaults), by name."""
    data = _load(f"{cloud}.yaml")
    return {entry["name"]: float(entry["on_demand_usd_hour"]) for entry in data.get("cpu_types", [])}


@cache
def regions(cloud: Cloud) -> dict[str, tuple[str, ...]]:
    """Region name to its zone names, for the regions llmdeploy knows on that cloud."""
    data: dict[str, dict[str, list[str]]] = _load("regions.yaml")
    return {region: tuple(zones) for region, zones in data[cloud].items()}


def closest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice nearest to a misspelt word, for 'did you mean' hints."""
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None
