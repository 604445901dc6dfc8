"""Hostile YAML: every file ends in located problems (exit 2), fast, never a traceback or a hang."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError, Problem
from tests.conftest import MINIMAL, REPO, WriteEnv

#: 9 levels of 9 aliases: 9**9 (387 million) strings once expanded, in under 700 bytes.
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)

HOSTILE = {
    "alias-bomb": (ALIAS_BOMB, "aliases (*name) expand to more than"),
    "recursive-alias": ("a: &a [*a]\n", "aliases (*name) expand to more than"),
    "merge-key": ("defaults: &d {max: 2}\ncapacity:\n  <<: *d\n", "merge keys (<<) are not supported"),
    "bool-key": (MINIMAL + "on: 1\n", "key 'on' is read by YAML as a true/false value"),
    "int-key": (MINIMAL + "tags: {1: x}\n", "key '1' is read by YAML as a number"),
    "deep-nesting": ("a: " + "[" * 200 + "]" * 200 + "\n", "nesting deeper than"),
    "very-deep-nesting": ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "nest"),
    "infinity": (
        MINIMAL.replace("params_billion: 0.5", "params_billion: .inf"),
        "'.inf' is not a finite number",
    ),
    "not-a-number": (MINIMAL + "    spot: {max_price_usd_hour: .nan}\n", "'.nan' is not a finite number"),
}


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    return caught.value.problems


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_is_refused_with_a_located_message(write_env: WriteEnv, name: str) -> None:
    text, expected = HOSTILE[name]
    started = time.perf_counter()
    problems = problems_of(write_env(text))
    print(f"{name}: {len(text)} bytes refused in {time.perf_counter() - started:.3f} s")
    assert any(expected in problem.message for problem in problems), [p.render() for p in problems]
    assert all(problem.file and problem.line for problem in problems if expected in problem.message)


def test_alias_bomb_is_small() -> None:
    assert len(ALIAS_BOMB) < 700


def test_booleans_are_not_numbers_nor_text_numbers(write_env: WriteEnv) -> None:
    problems = problems_of(write_env(MINIMAL + "    capacity: {min: 1, max: true}\n"))
    assert [problem.path for problem in problems] == ["models[0].capacity.max"]
    assert "valid integer" in problems[0].message
    problems = problems_of(write_env(MINIMAL + "    slots: {blue: {weight: '100'}}\n"))
    assert [problem.path for problem in problems] == ["models[0].slots.blue.weight"]
    problems = problems_of(write_env(MINIMAL + "monitoring: {dashboard: 1}\n"))
    assert [problem.path for problem in problems] == ["monitoring.dashboard"]


def test_oversized_file_is_refused_before_parsing(write_env: WriteEnv) -> None:
    (problem,) = problems_of(write_env(MINIMAL + "# " + "x" * 600_000 + "\n"))
    assert "larger than" in problem.message


@pytest.mark.process
def test_validate_cli_exits_2_with_a_message_on_every_hostile_file(tmp_path: Path) -> None:
    paths = []
    for name, (text, _) in sorted(HOSTILE.items()):
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(text, encoding="utf-8")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "llmdeploy", "validate", *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(
        f"llmdeploy validate on {len(paths)} hostile files: exit {result.returncode} "
        f"in {time.perf_counter() - started:.2f} s (process start included)"
    )
    assert result.returncode == 2, result.stderr
    for path, (_, expected) in zip(paths, (HOSTILE[name] for name in sorted(HOSTILE)), strict=True):
        assert any(str(path) in line and expected in line for line in result.stderr.splitlines()), path.name
    assert "Traceback" not in result.stderr + result.stdout
