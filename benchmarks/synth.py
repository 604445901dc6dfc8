"""Synth benchmark: every example environment on every cloud it names, cold, warm and no-op.

    python benchmarks/synth.py [--clouds aws,gcp,azure] [--envs dev,staging,prod]

First: the first synth on a machine, into an empty output folder with an empty jsii package cache
(jsii unpacks each provider once per machine and version, into ~/.cache/aws/jsii/package-cache).
Cold: into an empty output folder again, the package cache now filled. Warm: everything
synthesized again over the previous output (forced). No-op: nothing changed, so the previous
output is reused. Each run is a process of its own; its peak memory is the largest resident set
size of the processes it started (the CDK app's Python and Node).
Targets on a 2-core machine: a full synth (cold, warm) under 10 s, a no-op under 1 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmdeploy.catalog import CLOUDS, Cloud  # noqa: E402
from llmdeploy.synth import SynthResult, synth  # noqa: E402

#: The example files reference these; their values do not matter for timing.
EXAMPLE_VARIABLES = {
    "GCP_PROJECT": "llmdeploy-demo-123",
    "AWS_ACCOUNT_ID": "123456789012",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--envs", default="dev,staging,prod")
    parser.add_argument("--clouds", default=",".join(CLOUDS))
    # Internal: one run in a process of its own, so that its peak memory is its own.
    parser.add_argument("--run", choices=("first", "cold", "warm", "no-op"), help=argparse.SUPPRESS)
    parser.add_argument("--outdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name, value in EXAMPLE_VARIABLES.items():
        os.environ.setdefault(name, value)
    if args.run:
        return _one_run(args.run, args.envs.split(","), args.clouds, args.outdir)
    print(f"environments: {args.envs}; clouds: {args.clouds}; cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="llmdeploy-bench-") as scratch:
        outdir = Path(scratch) / "cdktf.out"
        # The runs inherit it: a package cache of this benchmark's own, empty at first.
        os.environ["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = str(Path(scratch) / "jsii-package-cache")
        codes = []
        for label in ("first", "cold", "warm", "no-op"):
            if label == "cold":
                shutil.rmtree(outdir)
            command = [sys.executable, __file__, "--run", label, "--envs", args.envs, "--clouds", args.clouds]
            codes.append(subprocess.run([*command, "--outdir", str(outdir)], check=False).returncode)
    return max(codes)


def _one_run(label: str, envs: list[str], wanted: str, outdir: Path) -> int:
    clouds: list[Cloud] = [cloud for cloud in CLOUDS if cloud in wanted.split(",")]
    result: SynthResult = synth(
        envs,
        env_dir=REPO / "environments",
        outdir=outdir,
        force=label == "warm",
        clouds=clouds,
        project_dir=REPO,
    )
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # A no-op starts no process: there is no peak to show.
    peak = f"{peak_mib:5.0f} MiB" if peak_mib else "    - MiB"
    synthesized = f"{len(result.synthesized):2d} synthesized"
    print(
        f"{label:<6} {result.seconds:6.2f} s  peak {peak}  {synthesized}, "
        f"{len(result.stacks):2d} stacks ({', '.join(result.stacks)})",
        flush=True,
    )
    return 1 if label == "no-op" and not result.cached else 0


if __name__ == "__main__":
    sys.exit(main())
