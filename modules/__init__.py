"""Thin per-cloud CDK Terrain constructs that translate a resolved `DeploymentPlan` into resources.

`modules/<cloud>/` hold the same file and class names for every cloud; they never read YAML and
never size, default or decide anything: every number comes from `llmdeploy.plan`.
"""
