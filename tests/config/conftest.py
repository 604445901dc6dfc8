"""The Terraform fixtures for the one config test that synthesizes a stack."""

from tests.fixtures_aws import terraform_binary, terraform_cli_env

__all__ = ["terraform_binary", "terraform_cli_env"]
