"""The session's synthesized Azure stacks (tests/fixtures_clouds.py) and the Terraform fixtures."""

from tests.fixtures_aws import terraform_binary, terraform_cli_env
from tests.fixtures_clouds import azure_stacks

__all__ = ["azure_stacks", "terraform_binary", "terraform_cli_env"]
