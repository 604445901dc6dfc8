"""Pull-through cache rules: kept one per prefix, described and deleted as the ECR API reference says."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.emulator.builders import Clients


def _prefix(unique_name: str) -> str:
    return f"{unique_name}/ecr-public"


def test_a_rule_is_created_described_and_deleted(corrected: Clients, unique_name: str) -> None:
    ecr = corrected("ecr")
    prefix = _prefix(unique_name)
    created = ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix=prefix, upstreamRegistryUrl="public.ecr.aws"
    )
    assert (created["ecrRepositoryPrefix"], created["upstreamRegistryUrl"]) == (prefix, "public.ecr.aws")
    assert created["registryId"] and created["createdAt"]
    [described] = ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=[prefix])[
        "pullThroughCacheRules"
    ]
    assert described["ecrRepositoryPrefix"] == prefix
    with pytest.raises(ClientError, match="PullThroughCacheRuleAlreadyExistsException"):
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl="public.ecr.aws")
    assert ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix=prefix)["ecrRepositoryPrefix"] == prefix
    with pytest.raises(ClientError, match="PullThroughCacheRuleNotFoundException"):
        ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=[prefix])
    with pytest.raises(ClientError, match="PullThroughCacheRuleNotFoundException"):
        ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix=prefix)


def test_a_prefix_ecr_would_refuse_is_refused(corrected: Clients) -> None:
    for prefix in ("Upper/case", "-leading", "two//slashes"):
        with pytest.raises(ClientError, match="InvalidParameterException"):
            corrected("ecr").create_pull_through_cache_rule(
                ecrRepositoryPrefix=prefix, upstreamRegistryUrl="public.ecr.aws"
            )


def test_plain_moto_still_lacks_pull_through_cache_rules(plain: Clients, unique_name: str) -> None:
    with pytest.raises(ClientError) as caught:
        plain("ecr").create_pull_through_cache_rule(
            ecrRepositoryPrefix=_prefix(unique_name), upstreamRegistryUrl="public.ecr.aws"
        )
    assert "PullThroughCache" not in caught.value.response["Error"]["Code"], (
        "moto now implements pull-through cache rules: remove pull_through_cache_rules and its tests"
    )
