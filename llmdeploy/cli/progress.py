"""Live progress for long Terraform runs: elapsed time and the resource being worked on."""

from __future__ import annotations

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


@contextmanager
def terraform_progress(console: Console, stack: str, command: str) -> Iterator[Any]:
    """A spinner with elapsed time; yields the `on_message` callback for TerraformRunner."""
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
            address = message.get("hook", {}).get("resource", {}).get("addr")
            if verb and address:
                progress.update(task, description=f"{stack}: {verb} {address}")

        yield on_message
