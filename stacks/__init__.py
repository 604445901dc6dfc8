"""Composition: one TerraformStack per environment and cloud, wired from `modules/<cloud>/`.

`python -m stacks` is the CDK Terrain app (see cdktf.json); `llmdeploy.synth` runs it.
"""

from modules.provider_loading import load_providers_lazily

# Before stacks.app imports cdktn, which starts the jsii runtime's Node process.
load_providers_lazily()
