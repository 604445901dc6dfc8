"""The session's synthesized AWS stacks (tests/fixtures_synth.py) and the Terraform fixtures."""

from tests.fixtures_aws import terraform_binary, terraform_cli_env
from tests.fixtures_synth import aws_stacks

__all__ = ["aws_stacks", "terraform_binary", "terraform_cli_env"]
