"""Providers load their resource modules on first use, and the synthesized Terraform is unchanged by it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from importlib import import_module
from importlib.metadata import version
from pathlib import Path

import pytest

from modules.package_cache import indexed, warm
from modules.provider_loading import HOOK, SWITCH
from tests.conftest import EXAMPLE_VARIABLES, EXAMPLES

pytestmark = pytest.mark.synth

REPO = Path(__file__).resolve().parents[2]

#: The Python packages whose bundled jsii tarballs the runtime loads, by Node package name.
BUNDLES = {
    "constructs": "constructs",
    "cdktn": "cdktn",
    "@cdktn/provider-aws": "cdktn_provider_aws",
    "@cdktn/provider-google": "cdktn_provider_google",
    "@cdktn/provider-azurerm": "cdktn_provider_azurerm",
}

#: Requires a provider's index the way the jsii kernel does, then looks one resource up.
PROBE = """
const path = require("path");
const root = path.resolve(process.argv[1]);
const loaded = () => Object.keys(require.cache).filter((file) => file.startsWith(root + path.sep)).length;
const provider = require(root);
const atStart = loaded();
const names = Object.keys(provider);
const resource = provider[process.argv[2]];
console.log(JSON.stringify({
  atStart, names: names.length, afterLookup: loaded(), exports: Object.keys(resource).length,
}));
"""


def _install(node_modules: Path, package: str) -> Path:
    """Unpack the tarball jsii ships inside the Python package, as the kernel does."""
    bundle = Path(import_module(BUNDLES[package]).__file__ or "").parent / "_jsii"
    (tarball,) = bundle.glob("*.jsii.tgz")
    target = node_modules / package
    target.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            member.name = member.name.removeprefix("package/")
        archive.extractall(target, filter="data")
    return target


@pytest.mark.parametrize(
    ("package", "resource"),
    [
        ("@cdktn/provider-aws", "autoscalingGroup"),
        ("@cdktn/provider-google", "computeRegionInstanceGroupManager"),
        ("@cdktn/provider-azurerm", "orchestratedVirtualMachineScaleSet"),
    ],
)
def test_a_provider_index_loads_only_the_resources_looked_up(
    tmp_path: Path, package: str, resource: str
) -> None:
    node_modules = tmp_path / "node_modules"
    for dependency in ("constructs", "cdktn"):
        _install(node_modules, dependency)
    provider = _install(node_modules, package)
    environ = {**os.environ, "NODE_OPTIONS": f'--require "{HOOK}"'}
    done = subprocess.run(
        ["node", "-e", PROBE, str(provider), resource],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    counts = json.loads(done.stdout)
    # Only the index itself, although every resource is still listed for the kernel to find.
    assert counts["atStart"] == 1
    assert counts["names"] > 500
    assert 1 < counts["afterLookup"] < 20
    assert counts["exports"] >= 1


def _synth(env: str, outdir: Path, *, lazy: bool) -> dict[str, str]:
    environ = {
        **os.environ,
        **EXAMPLE_VARIABLES,
        SWITCH: "1" if lazy else "0",
        "LLMDEPLOY_ENVS": env,
        "LLMDEPLOY_ENV_DIR": str(EXAMPLES),
        "CDKTF_OUTDIR": str(outdir),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    subprocess.run(
        [sys.executable, "-m", "stacks"], cwd=REPO, env=environ, check=True, capture_output=True, timeout=300
    )
    return {
        str(path.relative_to(outdir)): path.read_text(encoding="utf-8")
        for path in sorted(outdir.rglob("cdk.tf.json"))
    }


def test_lazy_loading_synthesizes_the_same_terraform_as_eager_loading(tmp_path: Path) -> None:
    lazy = _synth("staging", tmp_path / "lazy", lazy=True)
    eager = _synth("staging", tmp_path / "eager", lazy=False)
    assert sorted(lazy) == ["stacks/staging-aws/cdk.tf.json", "stacks/staging-gcp/cdk.tf.json"]
    assert lazy == eager


def test_the_switch_removes_an_inherited_hook_and_keeps_other_node_options() -> None:
    probe = "import os, modules; print(os.environ['NODE_OPTIONS'])"  # importing modules applies the setting
    inherited = f'--max-old-space-size=2048 --require "{HOOK}"'
    base = {**os.environ, "NODE_OPTIONS": inherited}
    off = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env={**base, SWITCH: "0"}, capture_output=True, text=True
    )
    on = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=base, capture_output=True, text=True)
    assert off.stdout.strip() == "--max-old-space-size=2048"
    assert on.stdout.strip() == inherited


def _peak_synth_mib(env: str, outdir: Path, cache: Path) -> float:
    """Peak resident memory of one synth's processes (Python and Node), in MiB."""
    measure = (
        "import resource, subprocess, sys; subprocess.run([sys.executable, '-m', 'stacks'], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    environ = {
        **os.environ,
        **EXAMPLE_VARIABLES,
        "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(cache),
        "LLMDEPLOY_ENVS": env,
        "LLMDEPLOY_ENV_DIR": str(EXAMPLES),
        "LLMDEPLOY_CLOUDS": "aws",
        "CDKTF_OUTDIR": str(outdir),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    done = subprocess.run(
        [sys.executable, "-c", measure], cwd=REPO, env=environ, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


def test_the_first_synth_on_a_machine_leaves_the_provider_indexed_for_the_next(tmp_path: Path) -> None:
    cache = tmp_path / "jsii-cache"
    first = _peak_synth_mib("dev", tmp_path / "first", cache)
    assert indexed(cache, "aws")
    second = _peak_synth_mib("dev", tmp_path / "second", cache)
    # Unindexed, jsii parses all 155 MB of the aws assembly: well over a GiB.
    assert first > 1024
    assert second < 512


def test_a_provider_left_unindexed_before_this_synth_is_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unpacked = tmp_path / "@cdktn" / "provider-aws" / version("cdktn-provider-aws") / "0123abcd"
    unpacked.mkdir(parents=True)
    monkeypatch.setenv("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(tmp_path))
    started = time.monotonic()
    # Unpacked before "now + 1 h": left over from an earlier run, so no wait at all.
    assert warm(["aws"], timeout_s=60, unpacked_since=time.time() + 3600) == ["aws"]
    assert time.monotonic() - started < 30
    # Unpacked by this run and still unindexed: waited for, up to the timeout.
    started = time.monotonic()
    assert warm(["aws"], timeout_s=1, unpacked_since=0) == ["aws"]
    assert time.monotonic() - started >= 1
