"""Fixtures of the boot tests: the local AWS emulator (shared with tests/fixtures_aws.py)."""

from tests.fixtures_aws import aws_client, aws_env, emulator, unique_name

__all__ = ["aws_client", "aws_env", "emulator", "unique_name"]
