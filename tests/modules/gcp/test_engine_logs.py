"""The VM log bucket: the Ops Agent's log, routed into it alone, kept as configured."""

from __future__ import annotations

import yaml

from llmdeploy.boot import logs
from tests.fixtures_synth import Stack


def _ops_agent_log_ids(stack: Stack) -> set[str]:
    """The log ids the fleets' Ops Agent writes, read from their instance templates' user data."""
    ids = set()
    for template in stack.resources("google_compute_instance_template").values():
        if "user-data" not in template["metadata"]:
            continue
        cloud_config = yaml.safe_load(
            template["metadata"]["user-data"].replace("$${", "${").replace("%%{", "%{")
        )
        for file in cloud_config["write_files"]:
            if file["path"] == logs.OPS_AGENT_CONFIG:
                ids |= set(yaml.safe_load(file["content"])["logging"]["receivers"])
    return ids


def test_the_sink_routes_exactly_the_agents_log_into_the_bucket(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    bucket = stack.at("google_logging_project_bucket_config", "VmLogs/Bucket")
    sink = stack.at("google_logging_project_sink", "VmLogs/Sink")
    exclusion = stack.at("google_logging_project_exclusion", "VmLogs/NotInDefault")
    (log_id,) = _ops_agent_log_ids(stack)
    project = stack.plan.settings("gcp").project_id
    assert sink["filter"] == exclusion["filter"] == f'logName="projects/{project}/logs/{log_id}"'
    assert (
        sink["destination"]
        == "logging.googleapis.com/${"
        + stack.address("google_logging_project_bucket_config", "VmLogs/Bucket")
        + ".id}"
    )
    assert (bucket["bucket_id"], bucket["location"], bucket["project"]) == (log_id, "us-central1", project)
    assert bucket["retention_days"] == 30


def test_retention_follows_the_config(gcp_stacks: dict[str, Stack]) -> None:
    bucket = gcp_stacks["edge-gcp"].at("google_logging_project_bucket_config", "VmLogs/Bucket")
    assert bucket["retention_days"] == 400


def test_the_fleets_may_write_logs_and_nothing_about_the_bucket(gcp_stacks: dict[str, Stack]) -> None:
    stack = gcp_stacks["prod-gcp"]
    for fleet in stack.plan.fleets_on("gcp"):
        roles = {
            member["role"]
            for member in stack.resources("google_project_iam_member").values()
            if member["//"]["metadata"]["path"].split("/")[-2] == fleet.name
        }
        assert "roles/logging.logWriter" in roles
        assert not any(
            role.startswith("roles/logging.") and role != "roles/logging.logWriter" for role in roles
        )
