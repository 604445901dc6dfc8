"""release / promote / rollback refuse what cannot be done before touching any file or cloud (exit 2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli import app
from tests.conftest import EXAMPLES

runner = CliRunner()
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example_vars: dict[str, str]) -> Path:
    """A project folder with a copy of the examples; the current directory for the test."""
    shutil.copytree(EXAMPLES, tmp_path / "environments")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.stderr.split())


def unchanged(project: Path) -> bool:
    """Every environment file as it was, and no promotion record or synthesized stack written."""
    same = all(
        (project / "environments" / path.name).read_bytes() == path.read_bytes()
        for path in EXAMPLES.iterdir()
    )
    return same and not (project / ".llmdeploy").exists() and not (project / "cdktf.out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--revision", "main"],
            "revision 'main' moves: pin a commit sha or a release tag (the edit was not written)",
        ),
        (["--engine-image", "ghcr.io/huggingface/text-generation-inference:latest"], "never 'latest'"),
        ([], "say what to release"),
        (
            ["--revision", "7ae557604adf67be50417f59c2c2f167def9a775"],
            "blue of chat already runs this version",
        ),
    ],
)
def test_release_refuses_bad_versions(project: Path, args: list[str], message: str) -> None:
    code, stderr = invoke("release", "dev", "--model", "chat", *args)
    assert code == 2
    assert message in stderr
    assert unchanged(project)


def test_release_refuses_while_both_slots_serve(project: Path) -> None:
    code, stderr = invoke("release", "prod", "--model", "translate-fr", "--revision", SHA, "--cloud", "aws")
    assert code == 2
    assert "a promotion of translate-fr is under way (blue 95%, green 5%)" in stderr
    # The suggested commands keep the user's --cloud: without it they would act on every cloud.
    assert (
        "finish it (`llmdeploy promote prod --model translate-fr --cloud aws`) or undo it "
        "(`llmdeploy rollback prod --model translate-fr --cloud aws`)"
    ) in stderr
    assert unchanged(project)


def test_release_names_the_models_of_the_environment(project: Path) -> None:
    code, stderr = invoke("release", "dev", "--model", "chatt", "--revision", SHA)
    assert (code, "no model 'chatt'" in stderr, "models: chat" in stderr) == (2, True, True)


def test_promote_needs_a_release_first(project: Path) -> None:
    code, stderr = invoke("promote", "dev", "--model", "chat", "--local", "--cloud", "aws")
    assert code == 2
    assert "nothing is released into the idle slot of chat" in stderr
    assert "llmdeploy release dev --model chat --revision <sha> --cloud aws --local" in stderr
    assert unchanged(project)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--steps", "50,10", "--steps '50,10' is not"), ("--pause", "soon", "--pause 'soon' is not a duration")],
)
def test_promote_refuses_bad_options(project: Path, option: str, value: str, message: str) -> None:
    code, stderr = invoke("promote", "dev", "--model", "chat", option, value)
    assert (code, message in stderr) == (2, True)
    assert unchanged(project)


def test_rollback_without_a_record_asks_which_slot(project: Path) -> None:
    code, stderr = invoke("rollback", "dev", "--model", "chat")
    assert code == 2
    assert "cannot tell which slot of chat to return traffic to (blue 100%, green 0%)" in stderr
    assert "--to blue or --to green" in stderr
    assert unchanged(project)


def test_a_read_only_environment_file_is_refused_before_anything_is_deployed(project: Path) -> None:
    dev = project / "environments" / "dev.yaml"
    dev.chmod(0o444)
    code, stderr = invoke("release", "dev", "--model", "chat", "--revision", SHA)
    assert code == 2, stderr
    assert f"the environment file {Path('environments') / 'dev.yaml'} is read-only" in stderr
    assert "make environments/dev.yaml writable" in stderr
    assert "Traceback" not in stderr and "PermissionError" not in stderr
    dev.chmod(0o644)
    assert unchanged(project)
