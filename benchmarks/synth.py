"""Synth benchmark: every example environment on every cloud it names, cold, warm and no-op.

    python benchmarks/synth.py [--clouds aws,gcp,azure] [--envs dev,staging,prod]

First: the first synth on a machine, into an empty output folder with an empty jsii package cache
(jsii unpacks each provider once per machine and version, into ~/.cache/aws/jsii/package-cache).
Cold: into an empty output folder again, the package cache now filled. Warm: everything
synthesized again over the previous output (forced). No-op: nothing changed, so the previous
output is reused. Peak memory is the largest child's maximum resident set size, over all runs.
Targets on a 2-core machine: a full synth (cold, warm) under 10 s, a no-op under 1 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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
    args = parser.parse_args()
    envs = args.envs.split(",")
    clouds: list[Cloud] = [cloud for cloud in CLOUDS if cloud in args.clouds.split(",")]
    for name, value in EXAMPLE_VARIABLES.items():
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory(prefix="llmdeploy-bench-") as scratch:
        outdir = Path(scratch) / "cdktf.out"
        # The children inherit it: a package cache of this run's own, empty at first.
        os.environ["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = str(Path(scratch) / "jsii-package-cache")

        def run(label: str, force: bool) -> SynthResult:
            result = synth(
                envs,
                env_dir=REPO / "environments",
                outdir=outdir,
                force=force,
                clouds=clouds,
                project_dir=REPO,
            )
            print(
                f"{label:<6} {result.seconds:6.2f} s  {len(result.synthesized):2d} synthesized, "
                f"{len(result.stacks):2d} stacks ({', '.join(result.stacks)})"
            )
            return result

        print(f"environments: {', '.join(envs)}; clouds: {', '.join(clouds)}; cores: {os.cpu_count()}")
        run("first", force=False)
        shutil.rmtree(outdir)
        run("cold", force=False)
        run("warm", force=True)
        noop = run("no-op", force=False)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak   {peak_mib:6.0f} MiB resident (largest child)")
    return 0 if noop.cached else 1


if __name__ == "__main__":
    sys.exit(main())
