"""Cloud identities of pipeline jobs: OIDC federation only, named by CI variables (not secrets).

A pull request plans with a read-only identity, the default branch applies with a deploying one,
each per environment, so a cloud's trust policy can admit each job only what it needs. The
variables hold identifiers (role ARNs, client ids), never keys: no long-lived secret exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llmdeploy.catalog import Cloud
from llmdeploy.ci.environments import PipelineEnv

Purpose = Literal["plan", "apply"]

_DESCRIPTIONS = {
    "role_arn": "IAM role ARN trusting the CI's OIDC provider ({purpose})",
    "workload_identity_provider": "Workload Identity provider: projects/NUMBER/locations/global/"
    "workloadIdentityPools/POOL/providers/PROVIDER",
    "service_account": "service account the Workload Identity pool may impersonate ({purpose})",
    "client_id": "client id of the Entra application with a federated credential for the CI ({purpose})",
    "tenant_id": "Entra tenant id",
    "subscription_id": "Azure subscription id",
}
_PURPOSES = {"plan": "read-only, plans pull/merge requests", "apply": "deploys merges"}


@dataclass(frozen=True)
class Login:
    """One cloud login of a job: which CI variables hold its identity."""

    env: PipelineEnv
    cloud: Cloud
    purpose: Purpose

    @property
    def variables(self) -> dict[str, str]:
        """Field (role_arn, client_id...) -> CI variable name, e.g. PROD_AWS_APPLY_ROLE_ARN."""
        prefix = f"{self.env.name.upper().replace('-', '_')}_{self.cloud.upper()}"
        own = f"{prefix}_{self.purpose.upper()}"
        if self.cloud == "aws":
            return {"role_arn": f"{own}_ROLE_ARN"}
        if self.cloud == "gcp":
            return {
                "workload_identity_provider": f"{prefix}_WORKLOAD_IDENTITY_PROVIDER",
                "service_account": f"{own}_SERVICE_ACCOUNT",
            }
        return {
            "client_id": f"{own}_CLIENT_ID",
            "tenant_id": f"{prefix}_TENANT_ID",
            "subscription_id": f"{prefix}_SUBSCRIPTION_ID",
        }


def logins(env: PipelineEnv, purpose: Purpose, cloud: Cloud | None = None) -> tuple[Login, ...]:
    """The logins a job needs: the stack's cloud (or all the environment's) and the state's cloud."""
    return tuple(Login(env, entry, purpose) for entry in env.credential_clouds(cloud))


def required_variables(envs: list[PipelineEnv]) -> dict[str, str]:
    """Every CI variable the pipeline reads -> what to put in it, in a stable order."""
    wanted: dict[str, str] = {}
    for env in envs:
        for name in env.variables:
            wanted.setdefault(name, f"referenced as ${{{name}}} by environment {env.name}")
        if not env.deployable:
            continue
        for purpose in ("plan", "apply"):
            for login in logins(env, purpose):
                for field, name in login.variables.items():
                    wanted.setdefault(name, _DESCRIPTIONS[field].format(purpose=_PURPOSES[purpose]))
    return wanted
