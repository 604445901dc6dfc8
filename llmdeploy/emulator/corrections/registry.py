"""ECR pull-through cache rules (Create/Describe/DeletePullThroughCacheRule), which moto 5.2.5 lacks."""

from __future__ import annotations

import datetime
import re
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr.models import ECRBackend
from moto.ecr.responses import ECRResponse

#: CreatePullThroughCacheRule `ecrRepositoryPrefix` (AWS API reference): 2-30 characters.
PREFIX = re.compile(r"^((?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*/?|ROOT)$")
#: Optional request fields echoed back as sent.
ECHOED = ("credentialArn", "customRoleArn", "upstreamRepositoryPrefix", "upstreamRegistry")
_RULES = "_llmdeploy_pull_through_cache_rules"


class PullThroughCacheRuleAlreadyExistsException(ServiceException):
    code = "PullThroughCacheRuleAlreadyExistsException"


class PullThroughCacheRuleNotFoundException(ServiceException):
    code = "PullThroughCacheRuleNotFoundException"


class InvalidParameterException(ServiceException):
    code = "InvalidParameterException"


def _rules(backend: ECRBackend) -> dict[str, dict[str, Any]]:
    rules: dict[str, dict[str, Any]] = backend.__dict__.setdefault(_RULES, {})
    return rules


def _missing(prefix: str, registry: str) -> PullThroughCacheRuleNotFoundException:
    return PullThroughCacheRuleNotFoundException(
        f"No pull through cache rule with prefix '{prefix}' in registry '{registry}'"
    )


def pull_through_cache_rules() -> None:
    """Create/Describe/DeletePullThroughCacheRule answer as the AWS API reference describes.

    CreatePullThroughCacheRule (ecrRepositoryPrefix and upstreamRegistryUrl required; 2-30
    characters of the documented pattern; credentialArn, customRoleArn, upstreamRepositoryPrefix
    optional) returns the rule with createdAt and registryId, and refuses a prefix the registry
    already has (PullThroughCacheRuleAlreadyExistsException). DescribePullThroughCacheRules
    returns the registry's rules, or those named in ecrRepositoryPrefixes, refusing an unknown
    one (PullThroughCacheRuleNotFoundException); DeletePullThroughCacheRule returns the deleted
    rule. moto 5.2.5 has none of them, so the provider cannot create `aws_ecr_pull_through_cache_rule`.

    The emulator never pulls images: nothing checks that the upstream URL is supported or that the
    credential works. Pagination is ignored. The error messages are ours.
    """

    def create(self: ECRResponse) -> ActionResult:
        prefix = self._get_param("ecrRepositoryPrefix")
        if not isinstance(prefix, str) or not 2 <= len(prefix) <= 30 or not PREFIX.match(prefix):
            raise InvalidParameterException(f"Invalid parameter at 'ecrRepositoryPrefix': {prefix!r}")
        rules = _rules(self.ecr_backend)
        registry = self.current_account
        if prefix in rules:
            raise PullThroughCacheRuleAlreadyExistsException(
                f"A pull through cache rule with prefix '{prefix}' exists in registry '{registry}'"
            )
        rule = {
            "ecrRepositoryPrefix": prefix,
            "upstreamRegistryUrl": self._get_param("upstreamRegistryUrl"),
            "createdAt": datetime.datetime.now(datetime.UTC),
            "registryId": registry,
            **{key: self._get_param(key) for key in ECHOED if self._get_param(key)},
        }
        rules[prefix] = rule
        return ActionResult(rule)

    def describe(self: ECRResponse) -> ActionResult:
        rules = _rules(self.ecr_backend)
        wanted = self._get_param("ecrRepositoryPrefixes") or list(rules)
        unknown = [prefix for prefix in wanted if prefix not in rules]
        if unknown:
            raise _missing(unknown[0], self.current_account)
        return ActionResult({"pullThroughCacheRules": [rules[prefix] for prefix in wanted]})

    def delete(self: ECRResponse) -> ActionResult:
        prefix = self._get_param("ecrRepositoryPrefix")
        rule = _rules(self.ecr_backend).pop(prefix, None)
        if rule is None:
            raise _missing(prefix, self.current_account)
        return ActionResult(rule)

    ECRResponse.create_pull_through_cache_rule = create  # type: ignore[attr-defined]
    ECRResponse.describe_pull_through_cache_rules = describe  # type: ignore[attr-defined]
    ECRResponse.delete_pull_through_cache_rule = delete  # type: ignore[attr-defined]
