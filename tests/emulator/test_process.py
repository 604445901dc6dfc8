"""Starting, finding and stopping the emulator launcher process."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmdeploy.emulator import (
    emulator_env,
    emulator_environ,
    read_emulator,
    start_emulator,
    stop_emulator,
)
from llmdeploy.emulator.corrections import correction_names
from llmdeploy.emulator.state import STATE_FILE, EmulatorHandle
from llmdeploy.errors import OperationError


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state folder whose emulator, if any, is stopped after the test."""
    yield tmp_path
    stop_emulator(tmp_path)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.process
def test_start_read_stop(state_dir: Path) -> None:
    handle = start_emulator(state_dir)
    assert handle.host == "127.0.0.1"
    assert handle.endpoint_url == f"http://127.0.0.1:{handle.port}"
    record = json.loads((state_dir / STATE_FILE).read_text())
    assert (record["pid"], record["port"]) == (handle.pid, handle.port)
    assert record["corrections"] == correction_names()
    assert read_emulator(state_dir) == handle
    with urllib.request.urlopen(f"{handle.endpoint_url}/moto-api/", timeout=5) as response:
        assert response.status == 200

    assert stop_emulator(state_dir) is True
    assert not _pid_exists(handle.pid)
    assert read_emulator(state_dir) is None
    assert not (state_dir / STATE_FILE).exists()
    assert stop_emulator(state_dir) is False  # idempotent


@pytest.mark.process
def test_start_is_idempotent_per_state_dir(state_dir: Path) -> None:
    first = start_emulator(state_dir)
    assert start_emulator(state_dir) == first
    with pytest.raises(OperationError, match="already running on port"):
        start_emulator(state_dir, port=first.port + 1 if first.port < 65535 else 1024)


@pytest.mark.process
def test_stale_record_is_ignored_and_replaced(state_dir: Path) -> None:
    # Our own pid is alive but is not a launcher: it must never be signalled.
    stale = {"pid": os.getpid(), "host": "127.0.0.1", "port": 1, "endpoint_url": "x"}
    (state_dir / STATE_FILE).write_text(json.dumps(stale))
    assert read_emulator(state_dir) is None
    handle = start_emulator(state_dir)
    assert handle.pid != os.getpid()
    assert handle.port != 1


@pytest.mark.process
def test_failed_start_reports_the_launcher_output(tmp_path: Path) -> None:
    with pytest.raises(OperationError, match="did not start") as caught:
        start_emulator(tmp_path, host="203.0.113.1")  # TEST-NET: not a local address
    assert "Traceback" not in str(caught.value).split("Its last output")[0]
    assert read_emulator(tmp_path) is None


def test_env_points_sdks_at_the_emulator_only() -> None:
    handle = EmulatorHandle(pid=1, host="127.0.0.1", port=4566, state_dir=Path("/x"))
    env = emulator_env(handle)
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    inherited = {
        "AWS_PROFILE": "prod",
        "AWS_SESSION_TOKEN": "t",
        "AWS_ENDPOINT_URL_S3": "https://s3.amazonaws.com",
        "HOME": "/h",
    }
    full = emulator_environ(handle, base=inherited)
    assert "AWS_PROFILE" not in full
    assert "AWS_SESSION_TOKEN" not in full
    assert "AWS_ENDPOINT_URL_S3" not in full
    assert full["HOME"] == "/h"
