"""Thin per-cloud CDK Terrain constructs that translate a resolved `DeploymentPlan` into resources.

`modules/<cloud>/` hold the same file and class names for every cloud; they never read YAML and
never size, default or decide anything: every number comes from `llmdeploy.plan`.
"""

from modules.provider_loading import load_providers_lazily

# Before any construct module imports cdktn, which starts the jsii runtime's Node process.
load_providers_lazily()
