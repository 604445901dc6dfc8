"""Building blocks shared by every config model: the strict base, names, secret references."""

from __future__ import annotations

import os
import re
from ipaddress import IPv4Network
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from llmdeploy.config.grammars import ImageReference, SecretName

#: Keys whose values may reference environment variables as `${NAME}`: secret names and account
#: ids differ per account, secret *values* never appear in a config file at all.
ENV_REFERENCE_KEYS = frozenset({"secret", "account_id", "project_id", "subscription_id", "tenant_id"})

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable, types are exact.

    Strict: `max: true` is not 1 and `weight: "5"` is not 5; YAML already gives numbers and booleans
    their own types, so a value of the wrong type is a mistake to report, never to convert.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, strict=True, allow_inf_nan=False
    )


#: An IPv4 network in CIDR notation, written as text (the one type strict mode must parse from text).
Cidr = Annotated[IPv4Network, Field(strict=False)]


def _expand_env(value: Any) -> Any:
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set (export it, or write the value)")
        return os.environ[name]

    return _ENV_REFERENCE.sub(substitute, value)


def env_references(value: str) -> list[str]:
    """The environment variables `value` references as `${NAME}`, in order of appearance."""
    return _ENV_REFERENCE.findall(value)


#: Expands `${NAME}` references before a grammar checks the result: `Annotated[EnvExpanded, Grammar]`.
EnvExpanded = BeforeValidator(_expand_env)

#: A lower-case DNS-safe name, short enough to prefix cloud resource names (ALB target groups: 32).
Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]*[a-z0-9]$", min_length=2, max_length=20),
    Field(description="lower-case letters, digits and dashes; 2-20 characters; starts with a letter"),
]


class SecretRef(Strict):
    """A reference to a secret in the cloud's secret store; the value itself never enters a config."""

    secret: Annotated[SecretName, EnvExpanded] = Field(
        description="Name of the secret in Secrets Manager / Secret Manager / Key Vault. "
        "May reference environment variables, e.g. ${HF_TOKEN_SECRET}."
    )


def _reject_literal_secret(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError(
            "a literal secret is not allowed here: store the value in the cloud's secret store "
            "and write {secret: <secret name>}"
        )
    return value


#: A field that must be a secret reference: a bare string is refused (its value is not echoed).
SecretField = Annotated[SecretRef, BeforeValidator(_reject_literal_secret)]


def _no_latest_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    tagged = ":" in name.rsplit("/", 1)[-1] and not name.endswith(":latest")
    if not tagged and "@" not in image:
        raise ValueError(
            f"image {image!r} must be pinned to a released tag or a digest, never 'latest' or untagged"
        )
    return image


#: A container image reference pinned to a tag (other than latest) or a sha256 digest.
PinnedImage = Annotated[ImageReference, AfterValidator(_no_latest_tag)]


def join_problems(problems: list[str]) -> str:
    """One validator message holding several problems, one per line, each `relative.path: message`.

    The diagnostics split it again so that every problem is reported on its own, with its YAML line.
    """
    return "\n".join(problems)
