"""Azure preflight: vCPU quotas, resource providers and Key Vault secrets.

Quotas (azure-mgmt-compute `usage.list(location)`, in vCPUs): regular VMs count against their size
family's quota (the family comes from `resourceSkus.list`, e.g. Standard_NC24ads_A100_v4 ->
standardNCADSA100v4Family) and against `cores` (Total Regional vCPUs); Spot VMs against
`lowPriorityCores` (Total Regional Spot vCPUs) alone. Usage is regional, this environment's own VMs
included once deployed. A size the location does not list, or lists with a `Location` restriction
(e.g. NotAvailableForSubscription), fails: no quota increase helps until access is granted.
Resource providers (ARM `GET /subscriptions/{id}/providers/{namespace}`): the stack asks azurerm to
register the namespaces it uses (clouds/azure/names.RESOURCE_PROVIDERS), which needs
`<namespace>/register/action` on the subscription; one that is not `Registered` fails the apply with
`MissingSubscriptionRegistration` unless the credentials may register it (Permissions - List For
Subscription, `actions` / `notActions` with wildcards).
Secrets: Key Vault `GET {vault}/secrets/{name}` (REST API 7.4), read as the signed-in identity.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from azure.core import PipelineClient
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient

from llmdeploy.catalog import InstanceType
from llmdeploy.clouds.azure.names import RESOURCE_PROVIDERS
from llmdeploy.clouds.azure.status import sign_in
from llmdeploy.config.clouds import AzureCloud
from llmdeploy.doctor.model import Check, compare
from llmdeploy.doctor.needs import capacity_needs, secrets_on, vcpus
from llmdeploy.doctor.secrets import SecretMissing, SecretUnreadable, judge
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan

REGIONAL = "cores"
SPOT = "lowPriorityCores"
ARM_URL = "https://management.azure.com"
_PROVIDERS_API = "2021-04-01"
#: Permissions - List For Subscription: what the signed-in identity may do there.
_AUTHORIZATION = "Microsoft.Authorization/permissions"
_AUTHORIZATION_API = "2022-04-01"
_KEY_VAULT_API = "7.4"
_HINT = "check the credentials (az login) and their access to the subscription"


@dataclass(frozen=True)
class AzureAccount:
    """The compute client, and plain ARM and Key Vault pipelines, for one subscription."""

    subscription: str
    compute: ComputeManagementClient
    arm: PipelineClient[HttpRequest, Any]
    vault: PipelineClient[HttpRequest, Any] | None

    @classmethod
    def connect(
        cls,
        subscription: str,
        vault_url: str | None,
        credential: Any = None,
        base_url: str = ARM_URL,
        **options: Any,
    ) -> AzureAccount:
        """Clients for `subscription` (and the Key Vault at `vault_url`); `options` (transport
        settings such as connection_verify) go to every one unchanged.

        Raises:
            OperationError: the credential cannot sign in (signing in once says so once, not per check).
        """
        credential = sign_in(credential)
        try:
            credential.get_token(f"{ARM_URL}/.default")
        except ClientAuthenticationError as error:
            first = str(error.message).splitlines()[0]
            raise OperationError(f"Cannot sign in to Azure: {first} ({_HINT})") from None

        def pipeline(url: str, scope: str) -> PipelineClient[HttpRequest, Any]:
            policies = [RetryPolicy(retry_total=2), BearerTokenCredentialPolicy(credential, scope)]
            return PipelineClient(url, policies=policies, **options)

        return cls(
            subscription=subscription,
            compute=ComputeManagementClient(credential, subscription, base_url=base_url, **options),
            arm=pipeline(base_url, f"{ARM_URL}/.default"),
            vault=pipeline(vault_url, "https://vault.azure.net/.default") if vault_url else None,
        )


def vault_url(settings: AzureCloud) -> str | None:
    """The URL of the environment's Key Vault (public Azure cloud)."""
    return f"https://{settings.key_vault.name}.vault.azure.net" if settings.key_vault else None


def checks(plan: DeploymentPlan, account: AzureAccount) -> list[Check]:
    """Every Azure check of the environment, in a fixed order."""
    settings = plan.settings("azure")
    found = _quota_checks(plan, settings.location, account)
    found += _provider_checks(account)
    return found + [
        judge("azure", use, partial(read_secret, account, use.name)) for use in secrets_on(plan, "azure")
    ]


def _quota_checks(plan: DeploymentPlan, location: str, account: AzureAccount) -> list[Check]:
    needs = capacity_needs(plan.fleets_on("azure"), _size, vcpus)
    if not needs:
        return []
    try:
        skus, usages = _read_quotas(account, location)
    except AzureError as error:
        reason = f"could not read the quotas in {location}: {_answer(error)}; {_HINT}"
        return [Check("azure", f"vCPU quotas in {location}", "unknown", reason)]
    found = [_offered(skus.get(name), name, location) for name in needs]
    by_family: dict[str, int] = {}
    for name, need in needs.items():
        if name in skus:
            family = str(skus[name].family)
            by_family[family] = by_family.get(family, 0) + need.on_demand
    by_family[REGIONAL] = sum(need.on_demand for need in needs.values())
    by_family[SPOT] = sum(need.spot for need in needs.values())
    return found + [_usage(usages, name, location, need) for name, need in by_family.items() if need]


def _size(kind: InstanceType) -> str:
    return kind.name


def _read_quotas(account: AzureAccount, location: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """VM size -> its resource SKU, and quota name (normalised) -> its usage, in `location`."""
    skus = account.compute.resource_skus.list(filter=f"location eq '{location}'")
    sizes = {str(sku.name): sku for sku in skus if sku.resource_type == "virtualMachines"}
    usages = {_key(str(usage.name.value)): usage for usage in account.compute.usage.list(location)}
    return sizes, usages


def _key(name: str) -> str:
    """Quota names compared without spaces or case: the SKU list and the usages spell families apart
    (e.g. `standardNCASv3_T4Family` and `Standard NCASv3_T4 Family`)."""
    return "".join(name.split()).lower()


def _offered(sku: Any, name: str, location: str) -> Check:
    """The size exists in `location` and the subscription may use it there (SKU `restrictions`)."""
    title = f"size {name} in {location}"
    if sku is None:
        return Check("azure", title, "fail", f"{location} does not offer {name}: pick a size it has")
    for restriction in sku.restrictions or []:
        if restriction.type == "Location":
            reason = getattr(restriction.reason_code, "value", restriction.reason_code)
            return Check(
                "azure",
                title,
                "fail",
                f"restricted for this subscription ({reason}): request access to the size in this "
                "region with a support request (quota type: Other Requests)",
            )
    return Check("azure", title, "ok", "offered, not restricted")


def _usage(usages: Mapping[str, Any], name: str, location: str, need: int) -> Check:
    title = f"quota {name} in {location}"
    usage = usages.get(_key(name))
    if usage is None:
        return Check("azure", title, "unknown", f"the subscription lists no {name} quota in {location}")
    return compare(
        "azure", title, need, float(usage.limit), float(usage.current_value), "vCPUs", used_by="in use"
    )


def _provider_checks(account: AzureAccount) -> list[Check]:
    """Each namespace the stack uses: registered, or registrable by these credentials at apply time."""
    try:
        path = f"/subscriptions/{account.subscription}/providers/{_AUTHORIZATION}"
        allowed = _get(account, path, _AUTHORIZATION_API)
    except (AzureError, ValueError) as error:
        allowed = {"error": _answer(error)}
    return [_provider(account, namespace, allowed) for namespace in RESOURCE_PROVIDERS]


def _provider(account: AzureAccount, namespace: str, allowed: Mapping[str, Any]) -> Check:
    title = f"resource provider {namespace}"
    try:
        path = f"/subscriptions/{account.subscription}/providers/{namespace}"
        state = _get(account, path, _PROVIDERS_API).get("registrationState")
    except (AzureError, ValueError) as error:
        return Check("azure", title, "unknown", f"could not read it: {_answer(error)}; {_HINT}")
    if state == "Registered":
        return Check("azure", title, "ok", "Registered")
    if "error" in allowed:
        reason = f"could not read these credentials' permissions ({allowed['error']})"
        return Check("azure", title, "unknown", f"{state}; whether the apply may register it: {reason}")
    if may(allowed.get("value", []), f"{namespace}/register/action"):
        return Check("azure", title, "ok", f"{state}: the apply registers it (these credentials may)")
    return Check(
        "azure",
        title,
        "fail",
        f"{state}, and these credentials may not register it: the apply would fail with "
        f"MissingSubscriptionRegistration. Have an Owner or Contributor run "
        f"`az provider register --namespace {namespace}`",
    )


def may(permissions: list[Mapping[str, Any]], action: str) -> bool:
    """Whether ARM permissions (each `actions` and `notActions`, `*` wildcards) allow `action`."""

    def matches(patterns: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns)

    return any(
        matches(entry.get("actions", [])) and not matches(entry.get("notActions", []))
        for entry in permissions
    )


def _get(account: AzureAccount, path: str, version: str) -> Any:
    """The JSON answer of an ARM GET at API `version`."""
    url = account.arm.format_url(f"{path}?api-version={version}")
    answer = account.arm.send_request(HttpRequest("GET", url))
    answer.raise_for_status()
    return answer.json()


def read_secret(account: AzureAccount, name: str) -> str:
    """The current value of a Key Vault secret.

    Raises:
        SecretMissing: no such secret (or no Key Vault configured).
        SecretUnreadable: access refused, or no answer.
    """
    if account.vault is None:
        raise SecretMissing("clouds.azure.key_vault names no Key Vault to hold it")
    try:
        url = account.vault.format_url(f"/secrets/{name}?api-version={_KEY_VAULT_API}")
        answer = account.vault.send_request(HttpRequest("GET", url))
    except AzureError as error:
        raise SecretUnreadable(f"could not ask the Key Vault: {_answer(error)}; {_HINT}") from None
    if answer.status_code == 404:
        raise SecretMissing(f"the Key Vault has no secret {name}")
    if answer.status_code != 200:
        raise SecretUnreadable(
            f"the Key Vault answered HTTP {answer.status_code} for secret {name} (grant the Key Vault "
            "Secrets User role on the vault to these credentials)"
        )
    try:
        return str(answer.json()["value"])
    except (ValueError, KeyError) as error:
        raise SecretUnreadable(f"the Key Vault's answer for {name} has no value ({error})") from None


def _answer(error: Exception) -> str:
    if isinstance(error, HttpResponseError) and error.status_code:
        return f"HTTP {error.status_code} {error.reason}"
    return str(getattr(error, "message", None) or error)
