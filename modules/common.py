"""Helpers every cloud's constructs share: resource names within cloud limits, and checkov skips.

Nothing here imports a provider binding, so GCP and Azure constructs use it without loading AWS.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktn import TerraformElement

# The subnet split lives with the config, which checks that the VPC CIDR is large enough for it.
from llmdeploy.config.clouds import SUBNET_NEWBITS as SUBNET_NEWBITS

# Defined with the names `llmdeploy status` reads back (llmdeploy never imports CDK code).
from llmdeploy.status.names import short_name as short_name

#: Where a skip is written in the synthesized JSON: the resource's `//` comment field, in the shape
#: checkov reads from CloudFormation metadata. checkov's terraform_json runner does not read inline
#: skips itself (bridgecrewio/checkov#4634), so llmdeploy/ci/checkov.py applies them.
CHECKOV_SKIP_PATH = "//.checkov.skip"

# Decisions that belong in llmdeploy/plan (reported to its owner): until the plan carries them,
# they are fixed here, once, for every cloud.
#: Log groups keep a year, the retention security baselines (checkov CKV_AWS_338) ask for.
LOG_RETENTION_DAYS = 365
#: Load balancer access logs are kept this long for request analysis, then expire.
ACCESS_LOG_EXPIRY_DAYS = 90
#: Instance refresh never drops below full healthy capacity (GPU capacity is scarce), pausing
#: at these percentages so alarms can stop a bad rollout.
ROLLOUT_MIN_HEALTHY_PERCENT = 100
ROLLOUT_MAX_HEALTHY_PERCENT = 200
ROLLOUT_CHECKPOINTS = (50, 100)


def skip_checks(element: TerraformElement, reasons: Mapping[str, str]) -> None:
    """Record checkov checks that do not fit `element`, each with its one-line reason."""
    element.add_override(
        CHECKOV_SKIP_PATH, [{"id": check, "comment": reason} for check, reason in sorted(reasons.items())]
    )


def terraform_literal(text: str) -> str:
    """`text` as a Terraform string that is never evaluated: `${` and `%{` escaped as `$${` and `%%{`.

    Terraform evaluates interpolations (`${…}`) and template directives (`%{…}`) in every string of the
    JSON it reads (Terraform language docs, "Strings and Templates": "use $${ and %%{" for literals).
    Config values reaching Terraform are refused by their grammar when they hold either; free text
    from elsewhere (descriptions, rendered documents) goes through this.
    """
    return text.replace("${", "$${").replace("%{", "%%{")
