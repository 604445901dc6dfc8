"""Where the external tools the tests drive live."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tests.conftest import REPO


def checkov() -> str | None:
    """The checkov binary: $LLMDEPLOY_CHECKOV, the project's .venv-checkov (scripts/setup), or PATH."""
    candidates = [os.environ.get("LLMDEPLOY_CHECKOV"), str(REPO / ".venv-checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("checkov")


def venv_tool(name: str) -> str | None:
    """A tool installed with the dev extras: next to this Python (venv not activated), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)
