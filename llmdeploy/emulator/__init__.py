"""A local AWS emulator: moto's server with narrow fidelity corrections.

This package's top level never imports moto (the launcher process does), so the CLI
can start and stop the emulator without paying for moto's import.
"""

from llmdeploy.emulator.process import (
    emulator_env,
    emulator_environ,
    read_emulator,
    start_emulator,
    stop_emulator,
)
from llmdeploy.emulator.state import EmulatorHandle

__all__ = [
    "EmulatorHandle",
    "emulator_env",
    "emulator_environ",
    "read_emulator",
    "start_emulator",
    "stop_emulator",
]
