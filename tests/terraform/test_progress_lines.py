"""Off a terminal (CI logs, pipes) progress is plain lines, one per resource started and finished."""

from __future__ import annotations

import io

from rich.console import Console

from llmdeploy.cli.progress import terraform_progress


def _hook(kind: str, address: str) -> dict[str, object]:
    return {"type": kind, "hook": {"resource": {"addr": address}}}


def test_a_log_gets_a_line_per_resource_and_no_blank_lines() -> None:
    log = io.StringIO()
    console = Console(file=log, width=200)  # a file, as in CI: not a terminal
    with terraform_progress(console, "dev-aws", "apply") as on_message:
        on_message(_hook("apply_start", "aws_vpc.main"))
        on_message(_hook("apply_progress", "aws_vpc.main"))
        on_message(_hook("apply_complete", "aws_vpc.main"))
        on_message(_hook("refresh_start", "data.aws_ami.gpu"))  # too many to list
        on_message({"type": "apply_start"})  # no resource: nothing to say
    lines = log.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "dev-aws: terraform apply",
        "dev-aws: working on aws_vpc.main",
        "dev-aws: still working on aws_vpc.main",
        "dev-aws: done aws_vpc.main",
        "dev-aws: terraform apply finished",
    ]
    assert all(line.startswith("[") and line.strip() for line in lines)
