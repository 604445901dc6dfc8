"""The `llmdeploy` command line."""

from llmdeploy.cli import check_commands as check_commands
from llmdeploy.cli import ci_commands as ci_commands
from llmdeploy.cli import config_commands as config_commands
from llmdeploy.cli import deploy_commands as deploy_commands
from llmdeploy.cli import drift_commands as drift_commands
from llmdeploy.cli import init_commands as init_commands
from llmdeploy.cli import local_commands as local_commands
from llmdeploy.cli import release_commands as release_commands
from llmdeploy.cli import simulate_commands as simulate_commands
from llmdeploy.cli import state_commands as state_commands
from llmdeploy.cli import status_commands as status_commands
from llmdeploy.cli.app import app


def main() -> None:
    """Entry point of the `llmdeploy` script."""
    app()


__all__ = ["app", "main"]
