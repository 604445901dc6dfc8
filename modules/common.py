"""Helpers every cloud's constructs share: checkov skips and Terraform literals.

Nothing here imports a provider binding, so GCP and Azure constructs use it without loading AWS.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktn import TerraformElement

#: Where a skip is written in the synthesized JSON: the resource's `//` comment field, in the shape
#: checkov reads from CloudFormation metadata. checkov's terraform_json runner does not read inline
#: skips itself (bridgecrewio/checkov#4634), so llmdeploy/ci/checkov.py applies them.
CHECKOV_SKIP_PATH = "//.checkov.skip"


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
