"""Run every check of an environment on each chosen cloud; a cloud that cannot be reached at all
(no SDK, no credentials, no subscription) gives one `unknown` check that says why."""

from __future__ import annotations

from collections.abc import Mapping

from llmdeploy.catalog import Cloud
from llmdeploy.config.clouds import AwsCloud, GcpCloud
from llmdeploy.doctor.model import Check
from llmdeploy.errors import OperationError
from llmdeploy.plan.model import DeploymentPlan

#: The extra that installs each cloud's SDKs.
_EXTRAS: dict[Cloud, str] = {"aws": "local", "gcp": "gcp", "azure": "azure"}


def cloud_checks(plan: DeploymentPlan, cloud: Cloud, environ: Mapping[str, str]) -> list[Check]:
    """The checks of `plan` on `cloud`; AWS calls use `environ` (the emulator's with --local)."""
    try:
        return _checks(plan, cloud, environ)
    except ImportError as error:
        hint = f"pip install -e '.[{_EXTRAS[cloud]}]'"
        return [Check(cloud, "cloud SDK", "unknown", f"{error.name} is not installed ({hint})")]
    except OperationError as error:
        return [Check(cloud, "sign-in", "unknown", str(error))]


def _checks(plan: DeploymentPlan, cloud: Cloud, environ: Mapping[str, str]) -> list[Check]:
    settings = plan.cloud(cloud).settings
    if isinstance(settings, AwsCloud):
        from llmdeploy.doctor import aws

        return aws.checks(plan, aws.AwsAccount.connect(settings.region, environ))
    if isinstance(settings, GcpCloud):
        from llmdeploy.doctor import gcp

        return gcp.checks(plan, gcp.GcpAccount.connect())
    from llmdeploy.clouds.azure.status import stack_subscription
    from llmdeploy.doctor import azure

    subscription = stack_subscription(plan.cloud(cloud).stack, settings)
    return azure.checks(plan, azure.AzureAccount.connect(subscription, azure.vault_url(settings)))
