"""Help pages: a flag takes no value, so none shows a `<bool>` type after it."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from llmdeploy.cli import app


def _command_paths() -> list[list[str]]:
    """Every command, as the words that name it (`apply`, `state orphans`)."""
    paths: list[list[str]] = []
    for name, command in getattr(typer.main.get_command(app), "commands", {}).items():
        nested = getattr(command, "commands", None)
        paths += [[name, sub] for sub in nested] if nested else [[name]]
    return paths


def test_no_help_page_shows_a_type_after_a_flag() -> None:
    runner = CliRunner()
    shown = {}
    for path in _command_paths():
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "160"})
        assert result.exit_code == 0, result.output
        shown[" ".join(path)] = result.output
    assert [path for path, page in shown.items() if "<bool>" in page] == []
    # The flags are still listed, with their help.
    assert "--auto-approve" in shown["apply"] and "Do not ask before changing anything." in shown["apply"]
    assert "--delete" in shown["state orphans"]
