"""Artifact Registry remote repositories sign in to their upstream with the configured credential:
a user name and a Secret Manager secret version, readable by the Artifact Registry service agent only."""

from __future__ import annotations

from llmdeploy.clouds.gcp import names
from llmdeploy.clouds.gcp.resolve import resolve
from tests.fixtures_synth import Stack


def test_a_credential_signs_in_and_only_its_secret_is_granted(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    credential = stack.plan.settings("gcp").registry_credentials["docker.io"]
    project = stack.plan.settings("gcp").project_id
    prefix = resolve(stack.plan).name
    repositories = {
        entry["repository_id"]: entry
        for entry in stack.resources("google_artifact_registry_repository").values()
    }
    hub = repositories[names.registry_mirror(prefix, "docker.io")]
    # google provider: `projects/{project}/secrets/{secret}/versions/{version}`.
    assert hub["remote_repository_config"]["upstream_credentials"] == {
        "username_password_credentials": {
            "username": credential.username,
            "password_secret_version": f"projects/{project}/secrets/{credential.secret}/versions/"
            f"{credential.version}",
        }
    }
    # ghcr.io has no credential in prod: anonymous, and no grant for it.
    ghcr = repositories[names.registry_mirror(prefix, "ghcr.io")]
    assert "upstream_credentials" not in ghcr["remote_repository_config"]
    [project_data] = stack.data("google_project")
    grants = {
        key: entry
        for key, entry in stack.resources("google_secret_manager_secret_iam_member").items()
        if "artifactregistry" in entry["member"]
    }
    [(key, grant)] = grants.items()
    assert grant == {
        **{k: grant[k] for k in ("//",)},
        "project": project,
        "secret_id": credential.secret,
        "role": "roles/secretmanager.secretAccessor",
        "member": f"serviceAccount:service-${{data.google_project.{project_data}.number}}"
        "@gcp-sa-artifactregistry.iam.gserviceaccount.com",
    }
    # Artifact Registry checks the credential when the repository is created: the grant comes first.
    assert hub["depends_on"] == [f"google_secret_manager_secret_iam_member.{key}"]


def test_without_credentials_no_project_lookup_and_no_grant(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["staging-gcp"]
    assert not stack.plan.settings("gcp").registry_credentials
    assert stack.data("google_project") == {}
    assert all(
        "upstream_credentials" not in entry["remote_repository_config"]
        for entry in stack.resources("google_artifact_registry_repository").values()
    )
