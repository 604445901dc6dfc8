"""`python -m stacks`: synthesize the stacks of the environments in $LLMDEPLOY_ENVS.

This is the app `cdktn synth|diff|deploy` runs (cdktf.json). Environment:
    LLMDEPLOY_ENVS: comma-separated environment names or paths. Default: every environment file in
        LLMDEPLOY_ENV_DIR that no other file extends, except those referencing an unset variable
        (each is named, with its variables, on stderr).
    LLMDEPLOY_ENV_DIR: where names are looked up (default: environments).
    LLMDEPLOY_CLOUDS: comma-separated clouds to synthesize (default: every cloud of each environment).
    CDKTF_OUTDIR: output folder (default: cdktf.out).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from llmdeploy.catalog import CLOUDS, Cloud
from llmdeploy.ci.environments import pipeline_envs
from llmdeploy.config.loader import ENVIRONMENTS_DIR, load
from llmdeploy.errors import LlmdeployError
from llmdeploy.plan.build import build_plan
from modules.package_cache import loaded_providers, warm
from stacks.app import build_app

#: Indexing took 1-2 s after the load here; far longer means something else is wrong.
FIRST_SYNTH_WAIT_S = 30.0
#: Only a provider this process unpacked is waited for: one left unindexed before never costs a wait.
STARTED = time.time()


def _list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _default_envs(env_dir: Path) -> list[str]:
    """Every environment of `env_dir` whose variables are set; the others are named on stderr.

    An environment that references an unset variable (a project or account id) cannot be
    synthesized for anyone; skipping it keeps `cdktn synth` useful for the stacks that can be.
    """
    envs = []
    for env in pipeline_envs(env_dir):
        unset = [name for name in env.variables if not os.environ.get(name)]
        if unset:
            print(f"skipped {env.name}: set {', '.join(unset)} to synthesize it", file=sys.stderr)
        else:
            envs.append(env.name)
    return envs


def main() -> int:
    env_dir = Path(os.environ.get("LLMDEPLOY_ENV_DIR") or ENVIRONMENTS_DIR)
    clouds: list[Cloud] | None = [cloud for cloud in _list("LLMDEPLOY_CLOUDS") if cloud in CLOUDS] or None
    try:
        envs = _list("LLMDEPLOY_ENVS") or _default_envs(env_dir)
        plans = [build_plan(load(env, env_dir)) for env in envs]
    except LlmdeployError as error:
        print(error, file=sys.stderr)
        return error.exit_code
    build_app(plans, Path(os.environ.get("CDKTF_OUTDIR") or "cdktf.out"), clouds=clouds).synth()
    # Waits only on the first synth on a machine, so that jsii's index serves every later one.
    warm(loaded_providers(), timeout_s=FIRST_SYNTH_WAIT_S, unpacked_since=STARTED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
