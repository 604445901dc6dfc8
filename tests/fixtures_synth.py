"""Session fixtures: the AWS stacks of every example environment (and one edge-case environment),
synthesized once, in this process, for all the tests that read them.

The provider bindings cost start-up time and memory, so the whole session
synthesizes one App; tests only read the JSON. `aws_stacks` is memoized at module level as well,
so the fixture imported into several conftest files still synthesizes once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.config.loader import load, load_environment
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.model import DeploymentPlan
from tests.conftest import EXAMPLE_NAMES, EXAMPLE_VARIABLES, EXAMPLES

Doc = dict[str, Any]

#: Everything the examples do not exercise: an existing VPC, HTTPS, host routing, queue-size
#: scaling with a spot price cap, an external alarm topic, vLLM, no token, explicit local state, VM
#: logs kept on the VMs only.
EDGE_ENV = """\
project: edge
tier: staging
state: {backend: local, path: "state/{stack}.tfstate"}
clouds:
  aws:
    region: eu-west-1
    zones: [eu-west-1a, eu-west-1b]
    network:
      existing:
        vpc_id: vpc-0abc1234
        public_subnet_ids: [subnet-0aaa0001, subnet-0aaa0002]
        private_subnet_ids: [subnet-0bbb0001, subnet-0bbb0002]
access:
  scheme: internal
  allowed_cidrs: [10.1.0.0/16, 192.168.0.0/24]
  routing: host
  tls:
    domain: llm.example.com
    aws_certificate_arn: arn:aws:acm:eu-west-1:123456789012:certificate/abc
monitoring:
  dashboard: false
  notify: {aws_sns_topic_arn: "arn:aws:sns:eu-west-1:123456789012:oncall"}
  logs: {ship: false}
models:
  - name: coder
    engine: vllm
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {aws: [g6.xlarge]}
    capacity: {min: 1, max: 3}
    spot: {on_demand_base: 1, max_price_usd_hour: 0.5}
    autoscaling: {target_queue_size: 2}
    load_balancing: {algorithm: round_robin}
"""


@dataclass(frozen=True)
class Stack:
    """One synthesized stack: its plan, folder and parsed cdk.tf.json."""

    plan: DeploymentPlan
    folder: Path
    doc: Doc

    @property
    def name(self) -> str:
        return self.folder.name

    def resources(self, kind: str) -> dict[str, Doc]:
        """The resources of one type, by Terraform name."""
        found: dict[str, Doc] = self.doc.get("resource", {}).get(kind, {})
        return found

    def data(self, kind: str) -> dict[str, Doc]:
        found: dict[str, Doc] = self.doc.get("data", {}).get(kind, {})
        return found

    def at(self, kind: str, path: str) -> Doc:
        """The resource of `kind` whose construct path ends with `path` (e.g. "chat-blue/Group")."""
        matches = [
            config
            for config in self.resources(kind).values()
            if config["//"]["metadata"]["path"].endswith(f"/{path}")
        ]
        assert len(matches) == 1, f"{len(matches)} {kind} at */{path} in {self.name}"
        return matches[0]

    def address(self, kind: str, path: str) -> str:
        """`<type>.<name>` of the resource at `path`, for `${...}` references."""
        config = self.at(kind, path)
        name = next(name for name, entry in self.resources(kind).items() if entry is config)
        return f"{kind}.{name}"


_SYNTHESIZED: dict[str, Stack] = {}


@pytest.fixture(scope="session")
def aws_stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stack]:
    """The AWS stack of each example environment and of EDGE_ENV, by stack name."""
    if not _SYNTHESIZED:
        _SYNTHESIZED.update(_synthesize(tmp_path_factory.mktemp("synth")))
    return _SYNTHESIZED


def _synthesize(root: Path) -> dict[str, Stack]:
    from stacks.app import build_app  # imports the provider bindings: only when a test needs them

    edge = root / "edge.yaml"
    edge.write_text(EDGE_ENV, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in EXAMPLE_VARIABLES.items():
            patch.setenv(name, value)
        configs = [load(name, EXAMPLES) for name in EXAMPLE_NAMES] + [load_environment(edge)]
    plans = [build_plan(config) for config in configs]
    outdir = root / "cdktf.out"
    build_app(plans, outdir, clouds=["aws"], project_dir=root).synth()
    stacks = {}
    for plan in plans:
        name = plan.cloud("aws").stack
        folder = outdir / "stacks" / name
        stacks[name] = Stack(plan, folder, json.loads((folder / "cdk.tf.json").read_text(encoding="utf-8")))
    return stacks
