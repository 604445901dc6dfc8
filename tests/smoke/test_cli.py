"""`llmdeploy smoke` as a user runs it: the example environments, the real nginx proxy, a stand-in engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from tests.conftest import EXAMPLES
from tests.smoke.engine import engine, proxy

DEV_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
STAGING_MODEL = "mistralai/Mistral-7B-Instruct-v0.3"


def _smoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["smoke", *args, "--env-dir", str(EXAMPLES)], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.process
def test_wrong_model_exits_1_naming_both_ids(tmp_path: Path) -> None:
    with engine(STAGING_MODEL) as wrong, proxy(wrong.port, tmp_path) as url:
        code, output = _smoke("dev", "--endpoint", url)
    assert code == 1
    assert f"the endpoint serves {STAGING_MODEL}, not the configured {DEV_MODEL}" in output


@pytest.mark.process
def test_right_model_passes_with_ttft_and_tokens_per_second(tmp_path: Path) -> None:
    with engine(DEV_MODEL) as right, proxy(right.port, tmp_path) as url:
        code, output = _smoke("dev", "--endpoint", url, "--json")
    assert code == 0, output
    (row,) = json.loads(output)["results"]
    assert row["passed"] and row["model"] == "chat" and row["tokens"] == 5
    assert row["ttft_s"] > 0 and row["tokens_per_s"] > 0


@pytest.mark.process
def test_the_key_comes_from_the_named_variable_and_is_never_shown(
    tmp_path: Path, example_vars: dict[str, str]
) -> None:
    with engine(STAGING_MODEL) as right, proxy(right.port, tmp_path) as url:
        env = {"SMOKE_TEST_KEY": " sk-test-42\n"}
        code, output = _smoke(
            "staging", "--cloud", "aws", "--endpoint", url, "--api-key-env", "SMOKE_TEST_KEY", env=env
        )
    assert code == 0, output
    assert {header for _, _, header in right.seen} == {"Bearer sk-test-42"}
    assert "sk-test-42" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), "nope"),
        (("dev", "--model", "nope"), "environment 'dev' has no model 'nope'"),
        (("dev", "--cloud", "gcp"), "environment 'dev' has no gcp cloud"),
        (("dev", "--slot", "green"), "no model of 'dev' has a green slot"),
        (("prod", "--local"), "--local emulates AWS only"),
        (("prod", "--cloud", "aws", "--endpoint", "http://127.0.0.1:9/"), "--endpoint serves one model"),
        (
            (
                "staging",
                "--cloud",
                "aws",
                "--endpoint",
                "http://127.0.0.1:9/",
                "--api-key-env",
                "SMOKE_UNSET",
            ),
            "--api-key-env names SMOKE_UNSET, which is not set",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(
    args: tuple[str, ...], message: str, example_vars: dict[str, str]
) -> None:
    code, output = _smoke(*args)
    assert code == 2
    assert message in output
    assert "Traceback" not in output
