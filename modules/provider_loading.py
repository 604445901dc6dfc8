"""Make Node load a provider's resource classes when a stack first uses them, not all at start.

A prebuilt provider's `lib/index.js` requires every resource module eagerly: about 2,400 for aws,
which cost the jsii runtime's Node process 5-6 s of CPU and 600 MiB before the first construct
existed, while a stack uses a few dozen. `lazy_provider_index.cjs`, preloaded into Node through
NODE_OPTIONS, turns those requires into getters that load a module when the jsii kernel first
looks it up. The synthesized JSON is byte-identical either way (tests/modules/test_provider_loading.py).

LLMDEPLOY_LAZY_PROVIDERS=0 loads providers eagerly again, to rule the hook out when debugging.
"""

from __future__ import annotations

import os
from pathlib import Path

HOOK = Path(__file__).with_name("lazy_provider_index.cjs")
SWITCH = "LLMDEPLOY_LAZY_PROVIDERS"


def load_providers_lazily() -> None:
    """Preload the hook into every Node process started from now on (call before importing cdktn).

    Idempotent; keeps whatever else NODE_OPTIONS holds.
    """
    option = f'--require "{HOOK}"'
    current = os.environ.get("NODE_OPTIONS", "")
    # Inherited from a parent process that enabled it, the option must go when switched off.
    others = current.replace(option, "").strip()
    lazy = os.environ.get(SWITCH, "1") != "0"
    os.environ["NODE_OPTIONS"] = f"{others} {option}".strip() if lazy else others
