"""Kept for tests/modules/cloud_stacks.py: the scan lives in llmdeploy.ci.checkov."""

from llmdeploy.ci.checkov import Scan, scan

__all__ = ["Scan", "scan"]
