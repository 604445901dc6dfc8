"""Prove each target in turn, with the API key of the cloud it is on (read once per cloud)."""

from __future__ import annotations

from collections.abc import Mapping

from llmdeploy.catalog import Cloud
from llmdeploy.plan.model import DeploymentPlan
from llmdeploy.smoke.check import SmokeResult, check_endpoint
from llmdeploy.smoke.keys import api_key
from llmdeploy.smoke.targets import Target


def prove(
    plan: DeploymentPlan,
    targets: list[Target],
    key_store: Cloud,
    environ: Mapping[str, str],
    key_env: str | None,
    timeout_s: float,
) -> list[SmokeResult]:
    """One result per target; `key_store` holds the key of targets without a cloud (--endpoint)."""
    keys: dict[Cloud, str | None] = {}
    results = []
    for target in targets:
        if target.problem is not None or target.url is None:
            results.append(target.failed())
            continue
        store = target.cloud or key_store
        if store not in keys:
            keys[store] = api_key(plan, store, environ, key_env)
        results.append(check_endpoint(target.url, target.model_id, keys[store], timeout_s, target.slot))
    return results
