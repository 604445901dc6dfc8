"""Which endpoints `llmdeploy smoke` calls: per model and cloud, from what `status` reads back.

A model's slots share one endpoint (its route on the cloud's load balancer), which sends each
request to one slot by the slots' weights. A request carrying the slot header
(llmdeploy.plan.routes.SLOT_HEADER) goes to that slot alone, at any weight (0 included): each
cloud's load balancer has a rule for it. So `--slot S` proves S alone, also before it gets traffic.

One exception: on GCP with a router group, a slot's backend service holds the routers too, and the
routers pick the slot by weight; there `--slot S` is proven alone only while S has all the traffic,
and at 0% nothing reaches it, which is reported as a failure rather than silently testing the
other slot.
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
        note: what the result does not prove (another slot may have answered).
        pinned: the requests carry the slot header, so `slot` alone answers them.
    """

    model: str
    model_id: str
    cloud: Cloud | None
    slot: Slot | None
    url: str | None
    problem: str | None = None
    note: str | None = None
    pinned: bool = False

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


def cloud_targets(
    plan: DeploymentPlan, models: list[ModelPlan], slot: Slot | None, statuses: list[SlotStatus]
) -> list[Target]:
    """One target per model on each cloud in `statuses` (what `status` read back)."""
    found = []
    for model in models:
        clouds = dict.fromkeys(entry.cloud for entry in statuses if entry.model == model.name)
        for cloud in clouds:
            mine = [entry for entry in statuses if (entry.model, entry.cloud) == (model.name, cloud)]
            found.append(_target(model, cloud, slot, mine, slot_address(plan, cloud)))
    return found


def slot_address(plan: DeploymentPlan, cloud: Cloud) -> bool:
    """Whether the slot header reaches the named slot alone on `cloud`.

    Everywhere but GCP with a router group: there a slot's backend service sends to the routers,
    which pick the slot by weight (modules/gcp/load_balancer.py).
    """
    return not (cloud == "gcp" and plan.router_group(cloud) is not None)


def _target(
    model: ModelPlan, cloud: Cloud, slot: Slot | None, statuses: list[SlotStatus], addressed: bool
) -> Target:
    url = next((entry.endpoint for entry in statuses if entry.endpoint), None)
    base = Target(model.name, model.model_id, cloud, slot, url)
    if url is None:
        return replace(base, problem=f"the {cloud} stack reports no endpoint for {model.name}")
    if slot is None:
        return base
    if addressed:
        return replace(base, pinned=True)
    weight = next((entry.weight for entry in statuses if entry.slot == slot), 0)
    if weight == 0:
        return replace(
            base,
            problem=f"the {slot} slot gets 0% of {model.name}'s traffic on {cloud}, and its routers pick "
            "the slot by weight (no per-slot address behind a router group): no request can reach it "
            "(shift some traffic to it, or pass --endpoint with an address of the slot's own)",
        )
    if weight < 100:
        return replace(
            base, note=f"{slot} has {weight}% behind the routers: the other slot may have answered"
        )
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
    return Target(models[0].name, models[0].model_id, None, slot, endpoint, pinned=slot is not None)
