"""Two emulators side by side: the corrected one (session-wide) and moto as shipped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmdeploy.emulator import EmulatorHandle, start_emulator, stop_emulator
from llmdeploy.emulator.corrections import correction_names
from tests.emulator.builders import Clients, clients_for
from tests.fixtures_aws import AwsClient


@pytest.fixture(scope="session")
def plain_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    """moto as shipped: every correction skipped and no seed."""
    state_dir = tmp_path_factory.mktemp("plain-moto")
    handle = start_emulator(state_dir, skip_corrections=correction_names(), seed=False)
    try:
        yield handle
    finally:
        stop_emulator(state_dir)


@pytest.fixture
def corrected(aws_client: AwsClient) -> Clients:
    return lambda service: aws_client(service)


@pytest.fixture
def plain(plain_moto: EmulatorHandle) -> Clients:
    return clients_for(plain_moto)
