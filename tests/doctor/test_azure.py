"""Azure preflight: azure-mgmt-compute and plain ARM / Key Vault requests against a loopback HTTPS API.

Bodies follow the REST references: Resource Skus - List (`resourceType`, `name`, `family`), Usage -
List (`name.value`, `currentValue`, `limit`), Providers - Get (`registrationState`) and Key Vault
Get Secret (`value`). One loopback server answers for both ARM and the vault (their paths differ).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from llmdeploy.clouds.azure.names import RESOURCE_PROVIDERS
from llmdeploy.config.loader import load_environment
from llmdeploy.doctor.azure import AzureAccount, checks, may
from llmdeploy.doctor.model import Check
from llmdeploy.errors import OperationError
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from tests.clouds.azure.azure_api import SUBSCRIPTION, TOKEN, FakeCredential, arm_api, trusted
from tests.conftest import WriteEnv
from tests.status.loopback import LoopbackApi

COMPUTE = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute"
SIZE, FAMILY = "Standard_NC24ads_A100_v4", "standardNCADSA100v4Family"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LoopbackApi]:
    with arm_api(tmp_path) as running:
        yield running


@pytest.fixture
def plan(write_env: WriteEnv) -> DeploymentPlan:
    path: Path = write_env(
        f"""\
        project: demo
        name: doc
        clouds:
          azure:
            subscription_id: {SUBSCRIPTION}
            location: eastus
            zones: ["1"]
            key_vault: {{name: doc-vault, resource_group: secrets}}
        access:
          scheme: internet-facing
          allowed_cidrs: [0.0.0.0/0]
          api_key: {{secret: doc-api-key}}
        models:
          - name: chat
            model_id: Qwen/Qwen2.5-0.5B-Instruct
            revision: 7ae557604adf67be50417f59c2c2f167def9a775
            params_billion: 0.5
            instance_types: {{azure: [{SIZE}]}}
            capacity: {{min: 1, max: 3}}
            spot: {{on_demand_base: 1}}
            load_balancing: {{algorithm: round_robin, request_timeout_s: 240}}
        """
    )
    return build_plan(load_environment(path))


def _account(api: LoopbackApi, tmp_path: Path, credential: FakeCredential) -> AzureAccount:
    return AzureAccount.connect(
        SUBSCRIPTION, api.url, credential, base_url=api.url, connection_verify=trusted(tmp_path)
    )


def _compute(
    api: LoopbackApi, usages: dict[str, tuple[int, int]], restrictions: list[dict[str, object]] | None = None
) -> None:
    sku = {
        "resourceType": "virtualMachines",
        "name": SIZE,
        "family": FAMILY,
        "locations": ["eastus"],
        "restrictions": restrictions or [],
    }
    api.answer("GET", f"{COMPUTE}/skus", {"value": [sku]})
    listed = [
        {
            "unit": "Count",
            "currentValue": used,
            "limit": limit,
            "name": {"value": name, "localizedValue": name},
        }
        for name, (limit, used) in usages.items()
    ]
    api.answer("GET", f"{COMPUTE}/locations/eastus/usages", {"value": listed})


def _providers(api: LoopbackApi, unregistered: set[str], actions: list[str] | None = None) -> None:
    for namespace in RESOURCE_PROVIDERS:
        state = "NotRegistered" if namespace in unregistered else "Registered"
        api.answer(
            "GET",
            f"/subscriptions/{SUBSCRIPTION}/providers/{namespace}",
            {"namespace": namespace, "registrationState": state},
        )
    # Reader's permissions by default: it may read everything and register nothing.
    allowed = [{"actions": actions or ["*/read"], "notActions": []}]
    api.answer(
        "GET",
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/permissions",
        {"value": allowed},
    )


def _by_name(found: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in found}


def test_regular_vms_count_against_family_and_region_spot_against_spot_vcpus(
    api: LoopbackApi, plan: DeploymentPlan, tmp_path: Path
) -> None:
    _compute(api, {FAMILY: (24, 0), "cores": (100, 90), "lowPriorityCores": (100, 0)})
    _providers(api, set())
    credential = FakeCredential()
    found = _by_name(checks(plan, _account(api, tmp_path, credential)))
    family = found[f"quota {FAMILY} in eastus"]
    assert (family.status, family.detail) == (
        "ok",
        "needs 24 vCPUs at max capacity; 24 of 24 left (0 in use)",
    )
    regional = found["quota cores in eastus"]
    assert regional.status == "fail" and regional.detail.startswith(
        "needs 24 vCPUs at max capacity; 10 of 100"
    )
    assert found["quota lowPriorityCores in eastus"].status == "ok"
    # Signed in for ARM, and for the vault with its own scope.
    assert {scope for scopes in credential.scopes for scope in scopes} == {
        "https://management.azure.com/.default",
        "https://vault.azure.net/.default",
    }
    assert all(request.headers.get("Authorization") == f"Bearer {TOKEN}" for request in api.seen)


def test_unregistered_providers_fail_unless_the_credentials_may_register_them(
    api: LoopbackApi, plan: DeploymentPlan, tmp_path: Path
) -> None:
    _compute(api, {FAMILY: (96, 0), "cores": (100, 0), "lowPriorityCores": (100, 0)})
    _providers(api, {"Microsoft.Cdn", "Microsoft.Insights"})
    found = _by_name(checks(plan, _account(api, tmp_path, FakeCredential())))
    cdn = found["resource provider Microsoft.Cdn"]
    assert cdn.status == "fail"
    assert "MissingSubscriptionRegistration" in cdn.detail
    assert "az provider register --namespace Microsoft.Cdn" in cdn.detail
    assert found["resource provider Microsoft.Insights"].status == "fail"
    assert found["resource provider Microsoft.Compute"].status == "ok"
    # A Contributor may register (`*`, with only authorization writes excluded): the apply does it.
    _providers(api, {"Microsoft.Cdn"}, actions=["*"])
    cdn = _by_name(checks(plan, _account(api, tmp_path, FakeCredential())))["resource provider Microsoft.Cdn"]
    assert (cdn.status, cdn.detail) == ("ok", "NotRegistered: the apply registers it (these credentials may)")


@pytest.mark.parametrize(
    ("actions", "not_actions", "allowed"),
    [
        (["*"], [], True),
        (["*"], ["Microsoft.Authorization/*/Write"], True),
        (["*/register/action"], [], True),
        (["microsoft.cdn/*"], [], True),
        (["*/read"], [], False),
        (["*"], ["*/register/action"], False),
    ],
)
def test_permissions_match_with_wildcards_and_exclusions(
    actions: list[str], not_actions: list[str], allowed: bool
) -> None:
    assert may([{"actions": actions, "notActions": not_actions}], "Microsoft.Cdn/register/action") is allowed


def test_key_vault_secrets_missing_json_or_plain(
    api: LoopbackApi, plan: DeploymentPlan, tmp_path: Path
) -> None:
    _compute(api, {FAMILY: (96, 0), "cores": (100, 0), "lowPriorityCores": (100, 0)})
    _providers(api, set())
    account = _account(api, tmp_path, FakeCredential())
    missing = _by_name(checks(plan, account))["secret doc-api-key (access.api_key)"]
    assert missing.status == "fail" and "the Key Vault has no secret doc-api-key" in missing.detail
    api.answer("GET", "/secrets/doc-api-key", {"value": '{"api_key": "s3cr3t"}', "id": "x"})
    json_key = _by_name(checks(plan, account))["secret doc-api-key (access.api_key)"]
    assert json_key.status == "fail" and "JSON object" in json_key.detail
    api.answer("GET", "/secrets/doc-api-key", {"value": "plain-key", "id": "x"})
    assert _by_name(checks(plan, account))["secret doc-api-key (access.api_key)"].status == "ok"


def test_a_size_the_location_does_not_offer_fails(
    api: LoopbackApi, plan: DeploymentPlan, tmp_path: Path
) -> None:
    api.answer("GET", f"{COMPUTE}/skus", {"value": []})
    api.answer("GET", f"{COMPUTE}/locations/eastus/usages", {"value": []})
    _providers(api, set())
    found = _by_name(checks(plan, _account(api, tmp_path, FakeCredential())))
    assert found[f"size {SIZE} in eastus"].status == "fail"


class _SignedOut(FakeCredential):
    def get_token(self, *scopes: str, **_: object) -> AccessToken:
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token.\nAttempted: ...")


def test_a_failed_sign_in_is_said_once(api: LoopbackApi, tmp_path: Path) -> None:
    with pytest.raises(
        OperationError, match=r"^Cannot sign in to Azure: DefaultAzureCredential failed"
    ) as caught:
        _account(api, tmp_path, _SignedOut())
    assert "Attempted" not in str(caught.value)
    assert api.seen == []


def test_family_names_match_however_usages_spell_them(
    api: LoopbackApi, plan: DeploymentPlan, tmp_path: Path
) -> None:
    _compute(api, {"Standard NCADSA100v4 Family": (10, 0), "cores": (100, 0), "lowPriorityCores": (100, 0)})
    _providers(api, set())
    family = _by_name(checks(plan, _account(api, tmp_path, FakeCredential())))[f"quota {FAMILY} in eastus"]
    assert family.status == "fail" and family.detail.startswith(
        "needs 24 vCPUs at max capacity; 10 of 10 left"
    )


def test_a_size_restricted_for_the_subscription_fails_with_what_to_request(
    api: LoopbackApi, plan: DeploymentPlan, tmp_path: Path
) -> None:
    restricted = {
        "type": "Location",
        "values": ["eastus"],
        "restrictionInfo": {"locations": ["eastus"]},
        "reasonCode": "NotAvailableForSubscription",
    }
    _compute(api, {FAMILY: (96, 0), "cores": (100, 0), "lowPriorityCores": (100, 0)}, [restricted])
    _providers(api, set())
    size = _by_name(checks(plan, _account(api, tmp_path, FakeCredential())))[f"size {SIZE} in eastus"]
    assert size.status == "fail"
    assert "restricted for this subscription (NotAvailableForSubscription)" in size.detail
