"""The `llmdeploy` command line."""

from llmdeploy.cli import config_commands as config_commands
from llmdeploy.cli.app import app


def main() -> None:
    """Entry point of the `llmdeploy` script."""
    app()


__all__ = ["app", "main"]
