"""`python -m llmdeploy.emulator --host 127.0.0.1 --port N [--state-dir D]`."""

from llmdeploy.emulator.server import main

main()
