"""Synthesize environments into Terraform JSON under cdktf.out/, reusing unchanged output.

The CDK app (`python -m stacks`) runs in child processes, one per cloud and in parallel, because
most of a child's time is Python and Node starting and loading one provider, which overlaps well
across clouds; this module itself never imports CDK code. Output is written to a temporary sibling
of the output folder and moved into place file by file only after every child succeeded, so a failed
synth leaves the previous output as it was, and files Terraform keeps next to a stack (.terraform/,
the lock file) survive a re-synth.

A synth is skipped for a stack whose inputs are unchanged: the validated environment (with what it
extends and the environment variables it references), the code and templates that turn it into
Terraform, the CDK package versions and the output location. Their hash is kept per stack in
`<outdir>/llmdeploy-synth.json`, next to a hash of the stack's file to notice hand edits.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from llmdeploy.atomic_write import write_atomically
from llmdeploy.catalog import CLOUDS, Cloud
from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.config.loader import load
from llmdeploy.errors import ConfigError, OperationError, Problem
from llmdeploy.plan.build import build_plan
from llmdeploy.plan.endpoints import stack_dir
from llmdeploy.plan.global_dns import DNS_PROVIDER

#: The checkout llmdeploy runs from: `stacks` and `modules` are imported from here.
REPO = Path(__file__).resolve().parents[1]
#: Everything whose content shapes the synthesized Terraform.
CODE_DIRS = ("llmdeploy", "modules", "stacks", "templates")
CODE_FILES = ("cdktf.json",)
#: Packages whose version shapes the synthesized Terraform (absent ones are recorded as such).
PACKAGES = (
    "cdktn",
    "cdktn-provider-aws",
    "cdktn-provider-google",
    "cdktn-provider-azurerm",
    "constructs",
    "jsii",
)
RECORD = "llmdeploy-synth.json"
STACK_FILE = "cdk.tf.json"
MANIFEST = "manifest.json"
_RECORD_VERSION = 1
_STDERR_LINES = 25


@dataclass(frozen=True)
class SynthResult:
    """What a synth produced: the stacks (all of them, reused or not) and how long it took."""

    stacks: list[str]
    cached: bool
    seconds: float
    synthesized: list[str]


@dataclass(frozen=True)
class _Stack:
    name: str
    env: str
    cloud: Cloud
    inputs: str


def synth(
    envs: Sequence[str],
    *,
    env_dir: Path,
    outdir: Path,
    force: bool = False,
    clouds: Sequence[Cloud] | None = None,
    project_dir: Path | None = None,
    configs: Sequence[EnvironmentConfig] | None = None,
) -> SynthResult:
    """Synthesize the stacks of `envs` (only on `clouds` when given) into `outdir`.

    `configs`: the environments as the caller already loaded them, in the order of `envs` (each is
    loaded and validated once per command).

    Raises:
        ConfigError: an environment is invalid.
        OperationError: the CDK app failed; the previous output is untouched.
    """
    started = time.perf_counter()
    project = (project_dir or Path.cwd()).resolve()
    outdir = outdir if outdir.is_absolute() else project / outdir
    env_dir = env_dir if env_dir.is_absolute() else project / env_dir
    loaded = dict(zip(envs, configs, strict=True)) if configs is not None else {}
    by_env = {env: loaded.get(env) or load(env, env_dir) for env in envs}
    wanted = _wanted_stacks(by_env, clouds, _fingerprint(outdir, project))
    record = _read_record(outdir)
    stale = [stack for stack in wanted if force or not _is_current(stack, record, outdir)]
    if stale:
        _run(stale, by_env, env_dir=env_dir, outdir=outdir, project=project)
        _write_record(outdir, record, stale)
    return SynthResult(
        stacks=[stack.name for stack in wanted],
        cached=not stale,
        seconds=time.perf_counter() - started,
        synthesized=[stack.name for stack in stale],
    )


def _wanted_stacks(
    configs: dict[str, EnvironmentConfig], clouds: Sequence[Cloud] | None, fingerprint: str
) -> list[_Stack]:
    stacks = []
    for env, config in configs.items():
        plan = build_plan(config)
        body = config.model_dump_json()
        for cloud in plan.clouds:
            if clouds is None or cloud.cloud in clouds:
                inputs = _digest(fingerprint, _code_hash(cloud.cloud), cloud.stack, body)
                stacks.append(_Stack(name=cloud.stack, env=env, cloud=cloud.cloud, inputs=inputs))
        dns = plan.global_dns
        if dns is not None and (clouds is None or DNS_PROVIDER in clouds):
            # Synthesized by the child of the cloud whose provider holds the records.
            inputs = _digest(fingerprint, _code_hash(DNS_PROVIDER), dns.stack, body)
            stacks.append(_Stack(name=dns.stack, env=env, cloud=DNS_PROVIDER, inputs=inputs))
    return stacks


def _fingerprint(outdir: Path, project: Path) -> str:
    """Hash of everything besides the environment and the cloud's own code that shapes the output."""
    return _digest(_versions(), str(outdir), str(project), sys.version)


@cache
def _code_hash(cloud: Cloud) -> str:
    """Hash of the code and templates a cloud's stacks are made from (computed once per process).

    Another cloud's constructs and stack module are left out, so editing them does not
    synthesize this cloud's stacks again.
    """
    digest = hashlib.sha256()
    for path in _code_files():
        relative = path.relative_to(REPO)
        if _other_cloud(relative, cloud):
            continue
        digest.update(str(relative).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _other_cloud(relative: Path, cloud: Cloud) -> bool:
    others = [other for other in CLOUDS if other != cloud]
    parts = relative.parts
    return (parts[0] == "modules" and len(parts) > 2 and parts[1] in others) or (
        parts[0] == "stacks" and relative.stem in others
    )


def _code_files() -> list[Path]:
    found = [REPO / name for name in CODE_FILES if (REPO / name).is_file()]
    for folder in CODE_DIRS:
        found += [
            path
            for path in (REPO / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        ]
    return sorted(found)


def _versions() -> str:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    return ",".join(f"{name}={version(name)}" for name in PACKAGES)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _read_record(outdir: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads((outdir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _RECORD_VERSION:
        return {}
    stacks = data.get("stacks")
    return stacks if isinstance(stacks, dict) else {}


def _is_current(stack: _Stack, record: dict[str, dict[str, str]], outdir: Path) -> bool:
    entry = record.get(stack.name, {})
    path = stack_dir(outdir, stack.name) / STACK_FILE
    return entry.get("inputs") == stack.inputs and path.is_file() and entry.get("output") == _file_hash(path)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_record(outdir: Path, record: dict[str, dict[str, str]], synthesized: Iterable[_Stack]) -> None:
    updated = dict(record)
    for stack in synthesized:
        output = _file_hash(stack_dir(outdir, stack.name) / STACK_FILE)
        updated[stack.name] = {"inputs": stack.inputs, "output": output}
    text = json.dumps({"version": _RECORD_VERSION, "stacks": updated}, indent=2, sort_keys=True)
    write_atomically(outdir / RECORD, text + "\n")


def _run(
    stacks: list[_Stack], configs: dict[str, EnvironmentConfig], *, env_dir: Path, outdir: Path, project: Path
) -> None:
    """One child per cloud, in parallel, each into its own temporary sibling of `outdir`."""
    outdir.parent.mkdir(parents=True, exist_ok=True)
    by_cloud: dict[Cloud, list[str]] = {}
    for stack in stacks:
        envs = by_cloud.setdefault(stack.cloud, [])
        envs += [] if stack.env in envs else [stack.env]
    # Siblings of `outdir`: relative paths the app computes from a stack folder hold after the move.
    temps = {
        cloud: Path(tempfile.mkdtemp(prefix=f".{outdir.name}.{cloud}.", dir=outdir.parent))
        for cloud in by_cloud
    }
    try:
        with ThreadPoolExecutor(max_workers=len(by_cloud)) as pool:
            runs = {
                cloud: pool.submit(_child, envs, cloud, configs, env_dir, temps[cloud], project)
                for cloud, envs in by_cloud.items()
            }
            failures = [failure for future in runs.values() if (failure := future.result()) is not None]
        if failures:
            raise failures[0]
        for cloud in by_cloud:
            _move_into(temps[cloud], outdir, [stack.name for stack in stacks if stack.cloud == cloud])
    finally:
        for temp in temps.values():
            shutil.rmtree(temp, ignore_errors=True)


def _child(
    envs: list[str],
    cloud: Cloud,
    configs: dict[str, EnvironmentConfig],
    env_dir: Path,
    temp: Path,
    project: Path,
) -> ConfigError | OperationError | None:
    environ = {
        **os.environ,
        "LLMDEPLOY_ENVS": ",".join(envs),
        "LLMDEPLOY_ENV_DIR": str(env_dir),
        "LLMDEPLOY_CLOUDS": cloud,
        "CDKTF_OUTDIR": str(temp),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    # jsii prints a page-long banner on Node 20 otherwise, burying real errors.
    environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    command = [sys.executable, "-m", "stacks"]
    try:
        done = subprocess.run(command, cwd=project, env=environ, capture_output=True, text=True, check=False)
    except OSError as error:
        return OperationError(f"cannot start the CDK app ({' '.join(command)}): {error}.")
    if done.returncode == 0:
        return None
    names = ", ".join(configs[env].name for env in envs)
    tail = "\n".join(done.stderr.strip().splitlines()[-_STDERR_LINES:])
    if done.returncode == ConfigError.exit_code:
        return ConfigError([Problem(tail)])
    return OperationError(
        f"synthesizing the {cloud} stacks of {names} failed (`python -m stacks` exited with "
        f"{done.returncode}); the previous output in cdktf.out is unchanged. Its last output:\n{tail}\n"
        "Next step: fix the error above, or run `python -m stacks` with LLMDEPLOY_ENVS="
        f"{','.join(envs)} LLMDEPLOY_CLOUDS={cloud} for the full trace."
    )


def _move_into(temp: Path, outdir: Path, stacks: list[str]) -> None:
    """Move each synthesized stack's files over the previous ones, then merge the manifest."""
    for stack in stacks:
        source, target = stack_dir(temp, stack), stack_dir(outdir, stack)
        if not (source / STACK_FILE).is_file():
            raise OperationError(
                f"the CDK app finished but wrote no {STACK_FILE} for stack {stack} "
                f"(looked in {source}); the previous output in cdktf.out is unchanged."
            )
        target.mkdir(parents=True, exist_ok=True)
        for path in source.iterdir():
            if path.is_file():
                os.replace(path, target / path.name)
    _merge_manifest(temp / MANIFEST, outdir / MANIFEST)


def _merge_manifest(new: Path, current: Path) -> None:
    fresh = json.loads(new.read_text(encoding="utf-8"))
    try:
        merged = json.loads(current.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        merged = {"stacks": {}}
    merged.setdefault("stacks", {}).update(fresh.get("stacks", {}))
    merged["version"] = fresh.get("version")
    write_atomically(current, json.dumps(merged, indent=2, sort_keys=True) + "\n")
