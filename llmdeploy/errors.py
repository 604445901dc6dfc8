"""The user-facing error types.

Each carries a message written for the person at the terminal: what went wrong, where,
what was expected and what to do next. The CLI alone turns them into exit codes:
`ConfigError` (bad input) exits 2, `OperationError` (the world misbehaved) exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class LlmdeployError(Exception):
    """Base of every error llmdeploy reports without a traceback."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as we can."""

    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def render(self) -> str:
        where = _shown(self.file) if self.file else ""
        if where and self.line:
            where = f"{where}:{self.line}"
        head = ": ".join(part for part in (where, self.path) if part)
        text = f"{head}: {self.message}" if head else self.message
        return f"{text}\n    hint: {self.hint}" if self.hint else text


def _shown(file: str) -> str:
    """A file as the user named it: relative to the working folder when it lies inside it."""
    try:
        return str(Path(file).relative_to(Path.cwd()))
    except ValueError:
        return file


class ConfigError(LlmdeployError):
    """Invalid input: one or more problems, all reported at once (exit 2)."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(problem.render() for problem in problems))


class OperationError(LlmdeployError):
    """Something outside the input failed: a binary, a cloud API, a lock (exit 1)."""

    exit_code = 1
