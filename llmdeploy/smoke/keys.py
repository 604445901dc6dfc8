"""The API key `llmdeploy smoke` sends: from an environment variable the user names, or else read
from the cloud's secret store as the signed-in identity. Never printed, never in an argument list.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from llmdeploy.catalog import Cloud
from llmdeploy.config.clouds import AwsCloud, GcpCloud
from llmdeploy.doctor.secrets import SecretMissing, SecretUnreadable
from llmdeploy.errors import ConfigError, OperationError, Problem
from llmdeploy.plan.model import DeploymentPlan


def api_key(
    plan: DeploymentPlan, cloud: Cloud, environ: Mapping[str, str], key_env: str | None
) -> str | None:
    """The key clients of `plan` send (None without `access.api_key`), with surrounding whitespace removed.

    Raises:
        ConfigError: `key_env` names a variable that is not set.
        OperationError: the secret could not be read from `cloud`'s store.
    """
    if plan.access.api_key is None:
        return None
    if key_env is not None:
        if not os.environ.get(key_env):
            raise ConfigError(
                [Problem(f"--api-key-env names {key_env}, which is not set", hint=f"export {key_env}=<key>")]
            )
        return os.environ[key_env].strip()
    name = plan.access.api_key.secret
    try:
        return _read(plan, cloud, name, environ).strip()
    except (SecretMissing, SecretUnreadable) as error:
        raise OperationError(
            f"Cannot read the API key from secret {name} on {cloud}: {error}. Grant read access to it, "
            "or pass --api-key-env NAME to send the key held in the environment variable NAME."
        ) from None


def _read(plan: DeploymentPlan, cloud: Cloud, name: str, environ: Mapping[str, str]) -> str:
    settings = plan.cloud(cloud).settings
    if isinstance(settings, AwsCloud):
        from llmdeploy.doctor import aws

        account = aws.AwsAccount.connect(settings.region, environ)
        return aws.read_secret(account.secrets, name, settings.region)
    if isinstance(settings, GcpCloud):
        from llmdeploy.doctor import gcp

        return gcp.read_secret(gcp.GcpAccount.connect(), settings.project_id, name)
    from llmdeploy.clouds.azure.status import stack_subscription
    from llmdeploy.doctor import azure

    subscription = stack_subscription(plan.cloud(cloud).stack, settings)
    return azure.read_secret(azure.AzureAccount.connect(subscription, azure.vault_url(settings)), name)
