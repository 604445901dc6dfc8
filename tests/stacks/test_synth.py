"""`llmdeploy.synth`: child processes, reuse of unchanged output, and failures that change nothing."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from llmdeploy.errors import ConfigError, OperationError
from llmdeploy.plan.endpoints import stack_dir
from llmdeploy.synth import RECORD, STACK_FILE, synth
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with copies of the dev environment, synthesized once for AWS."""
    root = tmp_path_factory.mktemp("project")
    (root / "environments").mkdir()
    for name in ("base.yaml", "dev.yaml"):
        shutil.copy(EXAMPLES / name, root / "environments" / name)
    result = synth(["dev"], env_dir=Path("environments"), outdir=Path("cdktf.out"), project_dir=root)
    assert (result.stacks, result.cached, result.synthesized) == (["dev-aws"], False, ["dev-aws"])
    return root


def _synth(root: Path) -> object:
    return synth(["dev"], env_dir=Path("environments"), outdir=Path("cdktf.out"), project_dir=root)


def test_unchanged_inputs_reuse_the_output_within_a_second(project: Path) -> None:
    output = stack_dir(project / "cdktf.out", "dev-aws") / STACK_FILE
    before = output.stat().st_mtime_ns
    started = time.perf_counter()
    result = _synth(project)
    assert time.perf_counter() - started < 1.0
    assert result.cached and result.synthesized == []  # type: ignore[attr-defined]
    assert output.stat().st_mtime_ns == before


def test_a_failed_synth_changes_nothing_and_the_next_one_replaces_edits(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = stack_dir(project / "cdktf.out", "dev-aws")
    (folder / ".terraform.lock.hcl").write_text("# kept\n", encoding="utf-8")
    edited = (folder / STACK_FILE).read_text(encoding="utf-8").replace('"us-east-1"', '"eu-west-1"')
    (folder / STACK_FILE).write_text(edited, encoding="utf-8")
    before = (folder / STACK_FILE).read_bytes()
    environment = project / "environments" / "dev.yaml"
    environment.write_text(
        environment.read_text(encoding="utf-8").replace("max: 2", "max: 3"), encoding="utf-8"
    )
    # The CDK app refuses malformed context JSON from the environment: a failure inside the child.
    monkeypatch.setenv("CDKTF_CONTEXT_JSON", "{")
    with pytest.raises(OperationError, match="dev failed") as raised:
        _synth(project)
    assert "the previous output in cdktf.out is unchanged" in str(raised.value)
    assert (folder / STACK_FILE).read_bytes() == before
    assert (folder / ".terraform.lock.hcl").read_text(encoding="utf-8") == "# kept\n"
    assert sorted(path.name for path in project.iterdir()) == ["cdktf.out", "environments"]
    monkeypatch.delenv("CDKTF_CONTEXT_JSON")
    result = _synth(project)
    assert result.synthesized == ["dev-aws"]  # type: ignore[attr-defined]
    synthesized = (folder / STACK_FILE).read_text(encoding="utf-8")
    assert '"max_size": 3' in synthesized and '"eu-west-1"' not in synthesized
    assert (folder / ".terraform.lock.hcl").is_file()
    assert (project / "cdktf.out" / RECORD).is_file()


def test_an_invalid_environment_is_a_config_error_before_any_child(project: Path) -> None:
    broken = project / "environments" / "broken.yaml"
    broken.write_text("extends: base.yaml\nclouds: {}\nmodels: []\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        synth(["broken"], env_dir=Path("environments"), outdir=Path("cdktf.out"), project_dir=project)
    broken.unlink()
