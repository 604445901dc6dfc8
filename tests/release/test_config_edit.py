"""Slot edits of environment files: comments, key order and blank lines kept; invalid results refused."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError
from llmdeploy.release.config_edit import edit_slots
from llmdeploy.release.yaml_edit import dump_document, load_document
from tests.conftest import EXAMPLES

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def envs(tmp_path: Path) -> Path:
    """A copy of the example environments: tests never edit environments/*.yaml."""
    shutil.copytree(EXAMPLES, tmp_path / "environments")
    return tmp_path / "environments"


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


@pytest.mark.parametrize("name", sorted(path.name for path in EXAMPLES.glob("*.yaml")))
def test_reading_and_writing_an_example_unchanged_is_byte_identical(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert dump_document(load_document(text)) == text


def test_a_release_appends_slots_and_changes_nothing_else(envs: Path) -> None:
    path = envs / "dev.yaml"
    before = path.read_text(encoding="utf-8")
    config = edit_slots(path, "chat", {"blue": 100, "green": 0}, {"green": {"revision": SHA}})
    after = path.read_text(encoding="utf-8")
    assert changed_lines(before, after) == [
        "+    slots:",
        "+      blue:",
        "+        weight: 100",
        "+      green:",
        "+        weight: 0",
        f"+        revision: {SHA}",
    ]
    assert after.startswith(before)  # every comment and key kept, in order
    slots = config.models[0].slots
    assert (slots["green"].weight, slots["green"].revision) == (0, SHA)
    assert load_environment(path) == config


def test_a_weight_step_changes_only_the_weight_lines(envs: Path, example_vars: dict[str, str]) -> None:
    path = envs / "prod.yaml"
    before = path.read_text(encoding="utf-8")
    edit_slots(path, "translate-fr", {"blue": 50, "green": 50})
    assert changed_lines(before, path.read_text(encoding="utf-8")) == [
        "-      blue: {weight: 95}",
        "+      blue: {weight: 50}",
        "-        weight: 5",
        "+        weight: 50",
    ]


def test_a_slot_appended_to_the_first_model_keeps_the_blank_line_between_models(
    envs: Path, example_vars: dict[str, str]
) -> None:
    path = envs / "prod.yaml"
    edit_slots(path, "translate-es", {"blue": 100, "green": 0}, {"green": {"revision": SHA}})
    edit_slots(path, "translate-fr", {"blue": 95, "green": 5}, {"green": {"engine_image": None}})
    text = path.read_text(encoding="utf-8")
    assert "        capacity: {min: 1, max: 2}\n\n  - name: translate-es\n" in text
    assert "engine_image: ghcr.io/huggingface/text-generation-inference:3.3.7" not in text
    assert text.endswith(f"      green:\n        weight: 0\n        revision: {SHA}\n")


def test_a_revision_that_looks_like_a_number_is_quoted_and_stays_a_string(envs: Path) -> None:
    path = envs / "dev.yaml"
    config = edit_slots(path, "chat", {"blue": 100, "green": 0}, {"green": {"revision": "1234567"}})
    assert "revision: '1234567'" in path.read_text(encoding="utf-8")
    assert config.models[0].slots["green"].revision == "1234567"


def test_an_edit_that_would_make_the_file_invalid_never_lands(envs: Path) -> None:
    path = envs / "dev.yaml"
    before = path.read_bytes()
    with pytest.raises(ConfigError) as raised:
        edit_slots(path, "chat", {"blue": 100, "green": 0}, {"green": {"revision": "main"}})
    [problem] = raised.value.problems
    assert problem.file == str(path)
    assert "revision 'main' moves" in problem.message
    assert "the edit was not written" in problem.message
    assert path.read_bytes() == before
    assert sorted(p.name for p in envs.iterdir()) == sorted(p.name for p in EXAMPLES.iterdir())


def test_weights_that_do_not_sum_to_100_are_refused(envs: Path) -> None:
    path = envs / "dev.yaml"
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="sum to 100"):
        edit_slots(path, "chat", {"blue": 60, "green": 60})
    assert path.read_bytes() == before


def test_an_unknown_model_is_named_with_the_known_ones(envs: Path) -> None:
    with pytest.raises(ConfigError, match="no model 'chatt'") as raised:
        edit_slots(envs / "dev.yaml", "chatt", {"blue": 100})
    assert raised.value.problems[0].hint == "its models: chat"


def test_models_inherited_from_a_base_are_copied_into_the_environment_and_the_base_is_untouched(
    envs: Path,
) -> None:
    (envs / "shared.yaml").write_text((envs / "dev.yaml").read_text())
    (envs / "child.yaml").write_text("extends: shared.yaml  # only the name differs\nname: child\n")
    base_before = (envs / "shared.yaml").read_bytes()
    config = edit_slots(envs / "child.yaml", "chat", {"blue": 100, "green": 0}, {"green": {"revision": SHA}})
    assert (envs / "shared.yaml").read_bytes() == base_before
    child = (envs / "child.yaml").read_text()
    assert child.startswith("extends: shared.yaml  # only the name differs\nname: child\n")
    assert "# Copied from shared.yaml by `llmdeploy release`" in child
    assert "    model_id: Qwen/Qwen2.5-0.5B-Instruct\n" in child
    assert config.name == "child"
    assert config.models[0].slots["green"].revision == SHA


def test_a_check_file_left_by_a_killed_edit_is_not_taken_for_an_environment(envs: Path) -> None:
    from llmdeploy.ci.environments import pipeline_envs

    # Where the edit validates itself (see _validated): a killed release leaves it behind.
    (envs / ".dev.k2j4x0.check.yaml").write_text((envs / "dev.yaml").read_text(encoding="utf-8"))
    assert [env.name for env in pipeline_envs(envs)] == ["dev", "staging", "prod"]


def test_an_edit_keeps_the_file_mode(envs: Path) -> None:
    """The edit goes through a temp file (0600 from mkstemp) renamed over the file: its mode stays."""
    dev = envs / "dev.yaml"
    dev.chmod(0o664)
    edit_slots(dev, "chat", {"blue": 100, "green": 0}, {"green": {"revision": SHA}})
    assert dev.stat().st_mode & 0o777 == 0o664
