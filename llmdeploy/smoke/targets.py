"""Which endpoints `llmdeploy smoke` calls: per model and cloud, from what `status` reads back.

A model's slots share one endpoint (its route on the cloud's load balancer), which sends each
request to one slot by the slots' weights. A request carrying the slot header
(llmdeploy.plan.routes.SLOT_HEADER) goes to that slot alone, at any weight (0 included): each
cloud's load balancer has a rule for it, and behind a router group (GCP, where the routers sit in
the slot's backend service) the routers' gate honours it too (llmdeploy/routing/hold.py). So
`--slot S` proves S alone, also before it gets traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from llmdeploy.catalog import Cloud
from llmdeploy.config.model import Slot
from llmdeploy.errors import ConfigError, Problem
from llmdeploy.plan.model import DeploymentPlan, ModelPlan
from llmdeploy.smoke.check import SmokeResult
from llmdeploy.status.model import SlotStatus


@dataclass(frozen=True)
class Target:
    """One endpoint to prove; `problem` is set when it cannot be called (nothing would reach the slot).

    Attributes:
        cloud: None for an endpoint given with --endpoint.
        slot: the slot every request names in the slot header, so that it alone answers.
    """

    model: str
    model_id: str
    cloud: Cloud | None
    slot: Slot | None
    url: str | None
    problem: str | None = None

    def failed(self) -> SmokeResult:
        assert self.problem is not None
        return SmokeResult(self.url or "-", self.model_id, problem=self.problem)


def chosen_models(plan: DeploymentPlan, model: str | None, slot: Slot | None) -> list[ModelPlan]:
    """The models to prove: `model` (or all), those that have `slot` when one is named.

    Raises:
        ConfigError: no such model, or no chosen model has that slot.
    """
    names = [entry.name for entry in plan.models]
    if model is not None and model not in names:
        raise ConfigError(
            [
                Problem(
                    f"environment {plan.env!r} has no model {model!r}",
                    path="models",
                    hint=f"models: {', '.join(names)}",
                )
            ]
        )
    models = [entry for entry in plan.models if model in (None, entry.name)]
    if slot is not None:
        models = [entry for entry in models if slot in {fleet.slot for fleet in entry.fleets}]
        if not models:
            which = f"model {model!r} of {plan.env!r} has no" if model else f"no model of {plan.env!r} has a"
            raise ConfigError(
                [
                    Problem(
                        f"{which} {slot} slot",
                        path="models",
                        hint="drop --slot, or name a configured slot",
                    )
                ]
            )
    return models


def cloud_targets(models: list[ModelPlan], slot: Slot | None, statuses: list[SlotStatus]) -> list[Target]:
    """One target per model on each cloud in `statuses` (what `status` read back)."""
    found = []
    for model in models:
        clouds = dict.fromkeys(entry.cloud for entry in statuses if entry.model == model.name)
        for cloud in clouds:
            mine = [entry for entry in statuses if (entry.model, entry.cloud) == (model.name, cloud)]
            found.append(_target(model, cloud, slot, mine))
    return found


def _target(model: ModelPlan, cloud: Cloud, slot: Slot | None, statuses: list[SlotStatus]) -> Target:
    url = next((entry.endpoint for entry in statuses if entry.endpoint), None)
    base = Target(model.name, model.model_id, cloud, slot, url)
    if url is None:
        return replace(base, problem=f"the {cloud} stack reports no endpoint for {model.name}")
    return base


def given_target(endpoint: str, models: list[ModelPlan], slot: Slot | None) -> Target:
    """The target of `--endpoint URL`: one model, at an address the user chose.

    With a slot, the requests carry the slot header: the URL may be the model's shared endpoint.

    Raises:
        ConfigError: the chosen models are more than one.
    """
    if len(models) != 1:
        names = ", ".join(model.name for model in models)
        raise ConfigError(
            [Problem(f"--endpoint serves one model, but {names} are chosen", hint="add --model")]
        )
    return Target(models[0].name, models[0].model_id, None, slot, endpoint)
