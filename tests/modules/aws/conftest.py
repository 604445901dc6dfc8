"""The session's synthesized AWS stacks (tests/fixtures_synth.py)."""

from tests.fixtures_synth import aws_stacks

__all__ = ["aws_stacks"]
