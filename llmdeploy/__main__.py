"""`python -m llmdeploy` runs the CLI."""

from llmdeploy.cli import main

main()
