"""ACR cache rules of an upstream with clouds.azure.registry_credentials sign in through a credential set
whose identity reads exactly its two Key Vault secrets; the secrets' values never enter the stack."""

from __future__ import annotations

from tests.fixtures_synth import Stack


def test_docker_hub_rules_sign_in_through_a_credential_set(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["prod-azure"]
    credential = stack.plan.settings("azure").registry_credentials["docker.io"]
    [(key, credential_set)] = stack.resources("azurerm_container_registry_credential_set").items()
    vault = "${data.azurerm_key_vault.KeyVault"
    # azurerm validates versionless secret ids: `https://<vault>.vault.azure.net/secrets/<name>`.
    assert credential_set["authentication_credentials"] == {
        "username_secret_id": f"{vault}.vault_uri}}secrets/{credential.username_secret}",
        "password_secret_id": f"{vault}.vault_uri}}secrets/{credential.secret}",
    }
    assert (credential_set["login_server"], credential_set["identity"]) == (
        "docker.io",
        {"type": "SystemAssigned"},
    )
    set_id = f"${{azurerm_container_registry_credential_set.{key}.id}}"
    rules = {
        rule["source_repo"]: rule.get("credential_set_id")
        for rule in stack.resources("azurerm_container_registry_cache_rule").values()
    }
    assert rules == {
        "docker.io/library/nginx": set_id,
        "ghcr.io/huggingface/text-generation-inference": None,
    }
    principal = f"${{azurerm_container_registry_credential_set.{key}.identity[0].principal_id}}"
    grants = [
        entry
        for entry in stack.resources("azurerm_role_assignment").values()
        if entry["principal_id"] == principal
    ]
    assert sorted((entry["scope"], entry["role_definition_name"]) for entry in grants) == sorted(
        (f"{vault}.id}}/secrets/{name}", "Key Vault Secrets User")
        for name in (credential.username_secret, credential.secret)
    )
    assert "azurerm_key_vault_secret" not in stack.doc.get("data", {})


def test_without_credentials_the_cache_pulls_anonymously(azure_stacks: dict[str, Stack]) -> None:
    stack = azure_stacks["edge-azure"]
    assert stack.resources("azurerm_container_registry_credential_set") == {}
    assert all(
        "credential_set_id" not in rule
        for rule in stack.resources("azurerm_container_registry_cache_rule").values()
    )
