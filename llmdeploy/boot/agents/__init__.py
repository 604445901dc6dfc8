"""Programs that run on every VM (stdlib Python; boto3 on AWS), shipped inside the user data.

They are written to /opt/llmdeploy/llmdeploy_agents/ and run as `python3 -m llmdeploy_agents.<name>`,
so they import each other relatively and nothing else from llmdeploy.
"""
