"""Property: a hostile string in any string field of an environment file is refused with a located
message, or comes out unchanged and inert (nothing a template, a shell or a rendered file interprets)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmdeploy.config import load_environment
from llmdeploy.config.source import format_loc
from llmdeploy.errors import ConfigError

#: A file that sets every string field the models have (but `extends`, which names a file to read).
FULL = yaml.safe_load(
    """\
name: full
project: demo
tags: {team: ml-platform}
state: {backend: s3, bucket: demo-state, region: us-east-1, key_prefix: llmdeploy/state}
clouds:
  aws:
    region: us-east-1
    zones: [us-east-1a, us-east-1b]
    account_id: "123456789012"
    ami_parameter: /aws/service/deeplearning/ami/x86_64/base/latest/ami-id
    network:
      existing:
        vpc_id: vpc-0abc1234
        public_subnet_ids: [subnet-0aaa0001, subnet-0aaa0002]
        private_subnet_ids: [subnet-0bbb0001, subnet-0bbb0002]
  gcp: {project_id: demo-project, region: us-central1, zones: [us-central1-a], image_family: common-cu128}
  azure:
    subscription_id: 00000000-0000-0000-0000-000000000000
    location: eastus
    zones: ["1"]
    key_vault: {name: demo-kv, resource_group: demo-rg}
access:
  scheme: internet-facing
  allowed_cidrs: [0.0.0.0/0]
  api_key: {secret: demo-api-key}
  next_api_key: {secret: demo-api-key-next}
  tls:
    domain: llm.example.com
    aws_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc-1
monitoring:
  notify: {emails: [oncall@example.com], aws_sns_topic_arn: "arn:aws:sns:us-east-1:123456789012:oncall"}
global_dns: {zone: example.com, name: api, health_check: {path: /health}}
models:
  - name: chat
    engine_image: ghcr.io/huggingface/text-generation-inference:3.3.6
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    hf_token: {secret: demo-hf-token}
    instance_types: {aws: [g6.xlarge], gcp: [g2-standard-8], azure: [Standard_NC24ads_A100_v4]}
    health_check: {path: /health}
    load_balancing: {algorithm: round_robin, request_timeout_s: 240}
    slots:
      blue: {weight: 100}
      green:
        weight: 0
        revision: v1.0
        engine_image: ghcr.io/huggingface/text-generation-inference:3.3.7
"""
)

#: What a template, a shell, a unit file or a YAML/JSON document could interpret.
FRAGMENTS = [
    "\n",
    "\r",
    "${x}",
    "%{ if true }",
    "'",
    '"',
    ";",
    "{}",
    "\x00",
    "\u2028",
    "\u2029",
    "`",
    "$(id)",
    "\\",
]
_ACTIVE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029'\"`;{}\\]|\$\{|%\{|\$\(")
_LONGEST_INERT = 2048


def string_paths(data: Any, loc: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Where `data` holds a string, and (as `(*loc, KEY)`) every key of the tags."""
    if isinstance(data, dict):
        found = [(*loc, key, KEY) for key in data] if loc == ("tags",) else []
        return found + [path for key, value in data.items() for path in string_paths(value, (*loc, key))]
    if isinstance(data, list):
        return [path for index, value in enumerate(data) for path in string_paths(value, (*loc, index))]
    return [loc] if isinstance(data, str) else []


KEY = "<key>"
PATHS = string_paths(FULL)


def replaced(data: Any, path: tuple[str | int, ...], value: str) -> Any:
    if path[-1] == KEY:
        return {**data, path[0]: {value: "x"}}
    if len(path) == 1:
        return (
            {**data, path[0]: value}
            if isinstance(data, dict)
            else [*data[: path[0]], value, *data[path[0] + 1 :]]
        )  # type: ignore[index]
    head, *rest = path
    inner = replaced(data[head], tuple(rest), value)
    if isinstance(data, dict):
        return {**data, head: inner}
    return [*data[:head], inner, *data[head + 1 :]]  # type: ignore[index]


def value_at(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


hostile = st.builds(
    lambda before, fragment, after, long: before + fragment + after + ("x" * 5000 if long else ""),
    st.text(max_size=12),
    st.sampled_from(FRAGMENTS),
    st.text(max_size=12),
    st.booleans(),
)


def test_the_full_file_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(FULL), encoding="utf-8")
    assert load_environment(path).models[0].slots["green"].revision == "v1.0"
    assert len(PATHS) > 30


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=hostile)
def test_a_hostile_string_is_refused_there_or_inert(
    tmp_path: Path, path: tuple[str | int, ...], value: str
) -> None:
    file = tmp_path / "full.yaml"
    file.write_text(yaml.safe_dump(replaced(FULL, path, value)), encoding="utf-8")
    try:
        config = load_environment(file)
    except ConfigError as error:
        parent = format_loc(path[:-1] if path[-1] != KEY else path[:1])
        assert error.problems
        assert any(problem.path.startswith(parent) and problem.message for problem in error.problems), [
            problem.render() for problem in error.problems
        ]
        return
    dumped = config.model_dump()
    accepted = next(iter(dumped["tags"])) if path[-1] == KEY else value_at(dumped, path)
    assert accepted == value
    assert not _ACTIVE.search(value) and len(value) <= _LONGEST_INERT, (
        f"{format_loc(path)} accepted {value!r}"
    )
