"""Progress for long Terraform runs: a live spinner on a terminal, plain lines elsewhere.

Off a terminal (CI logs, pipes) a spinner draws nothing useful, and a run of 80-100 s with no
output looks hung, so each resource Terraform starts and finishes gets a line of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

#: Stream messages that name the resource Terraform is busy with.
_BUSY = {
    "apply_start": "creating or changing",
    "apply_progress": "still working on",
    "refresh_start": "reading",
}
#: The same, as lines in a log: when each resource starts and ends (refreshes are too many to list).
_LOGGED = {
    "apply_start": "working on",
    "apply_progress": "still working on",
    "apply_complete": "done",
    "apply_errored": "failed",
}


@contextmanager
def terraform_progress(console: Console, stack: str, command: str) -> Iterator[Any]:
    """Yields the `on_message` callback for TerraformRunner that shows progress on `console`."""
    if not console.is_terminal:
        yield from _lines(console, stack, command)
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{stack}: terraform {command}")

        def on_message(message: dict[str, Any]) -> None:
            verb = _BUSY.get(str(message.get("type")))
            address = _address(message)
            if verb and address:
                progress.update(task, description=f"{stack}: {verb} {address}")

        yield on_message


def _lines(console: Console, stack: str, command: str) -> Iterator[Any]:
    started = time.monotonic()

    def say(text: str) -> None:
        console.print(f"[{time.monotonic() - started:4.0f}s] {stack}: {text}", markup=False, highlight=False)

    def on_message(message: dict[str, Any]) -> None:
        verb = _LOGGED.get(str(message.get("type")))
        address = _address(message)
        if verb and address:
            say(f"{verb} {address}")

    say(f"terraform {command}")
    yield on_message
    say(f"terraform {command} finished")


def _address(message: dict[str, Any]) -> str | None:
    hook = message.get("hook")
    resource = hook.get("resource") if isinstance(hook, dict) else None
    address = resource.get("addr") if isinstance(resource, dict) else None
    return address if isinstance(address, str) else None
