"""Environment texts the global DNS tests share (plan and synthesized stack)."""

from __future__ import annotations

#: Route 53 health checkers reach only public endpoints open to every address.
PUBLIC = "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0], require_api_key: false}\n"

#: One model on all three clouds, with the settings every cloud supports.
THREE_CLOUDS = f"""\
project: demo
{PUBLIC}clouds:
  aws: {{region: eu-west-1, zones: [eu-west-1a, eu-west-1b]}}
  gcp: {{project_id: demo-123, region: us-central1, zones: [us-central1-a]}}
  azure: {{subscription_id: 00000000-0000-0000-0000-000000000000, location: eastus, zones: ["1"]}}
models:
  - name: chat
    model_id: Qwen/Qwen2.5-0.5B-Instruct
    revision: 7ae557604adf67be50417f59c2c2f167def9a775
    params_billion: 0.5
    instance_types: {{aws: [g6.xlarge], gcp: [g2-standard-8], azure: [Standard_NC24ads_A100_v4]}}
    load_balancing: {{algorithm: round_robin, request_timeout_s: 240}}
"""
