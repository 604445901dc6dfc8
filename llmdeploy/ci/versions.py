"""What generated pipelines pin: actions by released major tag, tools by exact version.

Bump here, regenerate, and let the actionlint test check the inputs the new majors accept.
"""

from __future__ import annotations

CHECKOUT = "actions/checkout@v7"
SETUP_PYTHON = "actions/setup-python@v7"
SETUP_NODE = "actions/setup-node@v7"
SETUP_TERRAFORM = "hashicorp/setup-terraform@v4"
CACHE_RESTORE = "actions/cache/restore@v6"
CACHE_SAVE = "actions/cache/save@v6"
UPLOAD_ARTIFACT = "actions/upload-artifact@v7"
DOWNLOAD_ARTIFACT = "actions/download-artifact@v8"
GITHUB_SCRIPT = "actions/github-script@v9"
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials@v6"
GCP_AUTH = "google-github-actions/auth@v3"
AZURE_LOGIN = "azure/login@v3"

PYTHON = "3.11"
#: An LTS release that CDK Terrain's jsii runtime supports.
NODE = "22"
#: The version llmdeploy's own tests run.
TERRAFORM = "1.11.4"
#: GitLab jobs run in this image: Node.js and Debian's Python 3.11; Terraform is added by the job.
GITLAB_IMAGE = "node:22-bookworm"
RUNNER = "ubuntu-24.04"
