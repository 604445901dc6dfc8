"""Composition: one TerraformStack per environment and cloud, wired from `modules/<cloud>/`.

`python -m stacks` is the CDK Terrain app (see cdktf.json); `llmdeploy.synth` runs it.
"""
