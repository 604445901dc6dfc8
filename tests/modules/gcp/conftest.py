"""The session's synthesized GCP stacks (tests/fixtures_clouds.py) and the Terraform fixtures."""

from tests.fixtures_aws import terraform_binary, terraform_cli_env
from tests.fixtures_clouds import gcp_stacks

__all__ = ["gcp_stacks", "terraform_binary", "terraform_cli_env"]
