"""Running terraform (or tofu) in synthesized stack folders."""

from llmdeploy.terraform.cli_config import find_provider_mirror, write_cli_config
from llmdeploy.terraform.messages import Diagnostic, PlanSummary, ResourceChange
from llmdeploy.terraform.runner import BINARY_ENV, TerraformRunner, binary_from_env

__all__ = [
    "BINARY_ENV",
    "Diagnostic",
    "PlanSummary",
    "ResourceChange",
    "TerraformRunner",
    "binary_from_env",
    "find_provider_mirror",
    "write_cli_config",
]
