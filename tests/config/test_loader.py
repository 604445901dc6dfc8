"""Loading environment files: merging, and every kind of bad input reported clearly, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmdeploy.config import load_environment
from llmdeploy.errors import ConfigError, Problem
from tests.conftest import MINIMAL, WriteEnv


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    return caught.value.problems


def only_problem(path: Path) -> Problem:
    problems = problems_of(path)
    assert len(problems) == 1, [p.render() for p in problems]
    return problems[0]


def test_minimal_file_loads_with_defaults(write_env: WriteEnv) -> None:
    config = load_environment(write_env(MINIMAL, "edge.yaml"))
    assert config.name == "edge"
    model = config.models[0]
    assert model.engine == "tgi"
    assert model.load_balancing.algorithm == "least_outstanding_requests"
    assert model.slots["blue"].weight == 100
    assert model.autoscaling.target_requests_per_replica == 60


def test_misspelt_key_names_line_path_and_closest_key(write_env: WriteEnv) -> None:
    path = write_env(MINIMAL + "    capacity: {min: 1, maxx: 3}\n")
    problem = only_problem(path)
    assert problem.path == "models[0].capacity.maxx"
    assert problem.line == 10
    assert problem.file == str(path.resolve())
    assert "did you mean 'max'" in problem.message


def test_unknown_top_level_key_lists_a_suggestion(write_env: WriteEnv) -> None:
    problem = only_problem(write_env(MINIMAL + "modles: []\n"))
    assert problem.path == "modles"
    assert "did you mean 'models'" in problem.message


def test_wrong_type_shows_the_value_and_expectation(write_env: WriteEnv) -> None:
    problem = only_problem(write_env(MINIMAL + "    capacity: {max: lots}\n"))
    assert problem.path == "models[0].capacity.max"
    assert "valid integer" in problem.message
    assert "'lots'" in problem.message


def test_min_greater_than_max(write_env: WriteEnv) -> None:
    problem = only_problem(write_env(MINIMAL + "    capacity: {min: 4, max: 2}\n"))
    assert problem.path == "models[0].capacity.max"
    assert "min (4) is greater than max (2)" in problem.message


def test_slot_weights_must_sum_to_100(write_env: WriteEnv) -> None:
    problem = only_problem(write_env(MINIMAL + "    slots: {blue: {weight: 90}, green: {weight: 5}}\n"))
    assert problem.path == "models[0].slots"
    assert "sum to 100, got 95" in problem.message


def test_instance_type_not_in_catalog_suggests_one(write_env: WriteEnv) -> None:
    path = write_env(MINIMAL.replace("[g6.xlarge]", "[g6.xlarge, g6.xlarg]"))
    problem = only_problem(path)
    assert problem.path == "models[0].instance_types.aws[1]"
    assert "did you mean 'g6.xlarge'" in problem.message
    assert problem.line == 9


def test_unknown_region_and_zone(write_env: WriteEnv) -> None:
    text = MINIMAL.replace(
        "region: us-east-1, zones: [us-east-1a, us-east-1b]", "region: us-east-9, zones: [a, b]"
    )
    problem = only_problem(write_env(text))
    assert problem.path == "clouds.aws.region"
    assert "no region 'us-east-9'" in problem.message
    text = MINIMAL.replace("us-east-1b]", "us-east-1q]")
    problem = only_problem(write_env(text))
    assert problem.path == "clouds.aws.zones"
    assert "'us-east-1q'" in problem.message


def test_model_too_big_for_gpu_names_types_that_fit(write_env: WriteEnv) -> None:
    problem = only_problem(write_env(MINIMAL.replace("params_billion: 0.5", "params_billion: 70")))
    assert problem.path == "models[0].instance_types.aws[0]"
    assert "cannot hold" in problem.message
    assert "types that fit: " in problem.message
    assert "p4d.24xlarge" in problem.message or "g6e.12xlarge" in problem.message


def test_quantization_shrinks_the_memory_need(write_env: WriteEnv) -> None:
    text = MINIMAL.replace("params_billion: 0.5", "params_billion: 30")
    assert problems_of(write_env(text))
    config = load_environment(write_env(text + "    quantize: awq\n"))
    assert config.models[0].quantize == "awq"


def test_literal_secret_is_refused_and_never_echoed(write_env: WriteEnv) -> None:
    token = "hf_" + "x" * 34
    problem = only_problem(write_env(MINIMAL + f"    hf_token: {token}\n"))
    assert problem.path == "models[0].hf_token"
    assert "{secret: <secret name>}" in problem.message
    assert token not in problem.render()


def test_malformed_yaml_reports_the_line(write_env: WriteEnv) -> None:
    problem = only_problem(write_env(MINIMAL + "  - name: [unclosed\n"))
    assert "not valid YAML" in problem.message
    assert problem.line is not None and problem.line >= 10


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_file(write_env: WriteEnv, text: str) -> None:
    assert "empty" in only_problem(write_env(text)).message


def test_top_level_list_is_refused(write_env: WriteEnv) -> None:
    assert "mapping" in only_problem(write_env("- a\n- b\n")).message


def test_duplicate_key_is_reported(write_env: WriteEnv) -> None:
    problem = only_problem(write_env(MINIMAL + "project: other\n"))
    assert "appears twice" in problem.message
    assert problem.path == "project"


def test_extends_cycle(write_env: WriteEnv) -> None:
    write_env("extends: b.yaml\n", "a.yaml")
    path = write_env("extends: a.yaml\n", "b.yaml")
    assert "cycle" in only_problem(path).message


def test_extends_missing_file(write_env: WriteEnv) -> None:
    problem = only_problem(write_env("extends: nowhere.yaml\n" + MINIMAL))
    assert "does not exist" in problem.message
    assert problem.path == "extends"


def test_extends_merges_mappings_and_replaces_lists(write_env: WriteEnv) -> None:
    write_env(MINIMAL + "tags: {team: ml, tier: gold}\n", "base.yaml")
    path = write_env(
        """\
        extends: base.yaml
        tags: {tier: silver}
        clouds:
          aws: {zones: [us-east-1c, us-east-1d]}
        """,
        "child.yaml",
    )
    config = load_environment(path)
    assert config.tags == {"team": "ml", "tier": "silver"}
    assert config.clouds.aws is not None
    assert config.clouds.aws.region == "us-east-1"
    assert config.clouds.aws.zones == ["us-east-1c", "us-east-1d"]
    assert config.name == "child"


def test_error_in_base_file_points_at_the_base(write_env: WriteEnv) -> None:
    base = write_env(MINIMAL + "    capacity: {min: 1, max: 0}\n", "base.yaml")
    problem = only_problem(write_env("extends: base.yaml\ntier: dev\n", "child.yaml"))
    assert problem.file == str(base.resolve())
    assert problem.line == 10


def test_several_errors_reported_at_once(write_env: WriteEnv) -> None:
    text = MINIMAL.replace("revision: 7ae5", "revision: main\n    bogus: 1\n    #").replace(
        "params_billion: 0.5", "params_billion: -1"
    )
    paths = {problem.path for problem in problems_of(write_env(text))}
    assert {"models[0].revision", "models[0].bogus", "models[0].params_billion"} <= paths


def test_env_reference_allowed_for_account_ids(write_env: WriteEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCOUNT", "123456789012")
    config = load_environment(
        write_env(
            MINIMAL.replace(
                "zones: [us-east-1a, us-east-1b]", "zones: [us-east-1a, us-east-1b], account_id: '${ACCOUNT}'"
            )
        )
    )
    assert config.clouds.aws is not None
    assert config.clouds.aws.account_id == "123456789012"


def test_env_reference_refused_elsewhere(write_env: WriteEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL", "x/y")
    problem = only_problem(
        write_env(MINIMAL.replace("model_id: Qwen/Qwen2.5-0.5B-Instruct", 'model_id: "${MODEL}"'))
    )
    assert problem.path == "models[0].model_id"
    assert "only allowed in secret names and account ids" in problem.message


def test_unset_env_reference_is_reported(write_env: WriteEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    problem = only_problem(write_env(MINIMAL + "    hf_token: {secret: '${NOPE_NOT_SET}'}\n"))
    assert problem.path == "models[0].hf_token.secret"
    assert "NOPE_NOT_SET is not set" in problem.message


def test_scale_to_zero_needs_opt_in_and_is_refused_in_prod(write_env: WriteEnv) -> None:
    problem = only_problem(write_env(MINIMAL + "    capacity: {min: 0, max: 2}\n"))
    assert problem.path == "models[0].capacity.min"
    text = (
        MINIMAL + "tier: prod\n" + "    autoscaling: {scale_to_zero: true}\n    spot: {on_demand_base: 1}\n"
    )
    problem = only_problem(write_env(text.replace("tier: prod\n", "") + "tier: prod\n"))
    assert problem.path == "models[0].autoscaling.scale_to_zero"


def test_prod_needs_on_demand_base(write_env: WriteEnv) -> None:
    problem = only_problem(write_env(MINIMAL + "tier: prod\n"))
    assert problem.path == "models[0].spot.on_demand_base"


PUBLIC = "access: {scheme: internet-facing, allowed_cidrs: [198.51.100.0/24], require_api_key: false}\n"


def test_cloud_without_instance_types_for_a_model(write_env: WriteEnv) -> None:
    text = PUBLIC + MINIMAL.replace(
        "clouds:\n", "clouds:\n  gcp: {project_id: demo-proj, region: us-central1, zones: [us-central1-a]}\n"
    )
    problem = only_problem(write_env(text))
    assert problem.path == "models[0].instance_types"
    assert "no gcp entry" in problem.message


def test_unsupported_feature_names_cloud_and_reason(write_env: WriteEnv) -> None:
    text = PUBLIC + MINIMAL.replace(
        "clouds:\n",
        "clouds:\n  azure: {subscription_id: 00000000-0000-0000-0000-000000000000, "
        "location: eastus, zones: ['1']}\n",
    ).replace("{aws: [g6.xlarge]}", "{aws: [g6.xlarge], azure: [Standard_NC24ads_A100_v4]}")
    problem = only_problem(write_env(text + "    load_balancing: {request_timeout_s: 240}\n"))
    assert problem.path == "models[0].load_balancing.algorithm"
    assert "azure cannot do least outstanding requests" in problem.message
    fixed = text + "    load_balancing: {algorithm_overrides: {azure: round_robin}, request_timeout_s: 240}\n"
    assert load_environment(write_env(fixed)).models[0].load_balancing.algorithm_for("azure") == "round_robin"


def test_internet_facing_needs_an_api_key(write_env: WriteEnv) -> None:
    problem = only_problem(
        write_env(MINIMAL + "access: {scheme: internet-facing, allowed_cidrs: [0.0.0.0/0]}\n")
    )
    assert problem.path == "access.api_key"


def test_floating_engine_image_is_refused(write_env: WriteEnv) -> None:
    text = MINIMAL + "    engine_image: ghcr.io/huggingface/text-generation-inference:latest\n"
    assert "never 'latest'" in only_problem(write_env(text)).message


def test_internal_endpoint_is_refused_where_the_balancer_is_always_public(write_env: WriteEnv) -> None:
    text = MINIMAL.replace(
        "clouds:\n", "clouds:\n  gcp: {project_id: demo-proj, region: us-central1, zones: [us-central1-a]}\n"
    ).replace("{aws: [g6.xlarge]}", "{aws: [g6.xlarge], gcp: [g2-standard-8]}")
    problem = only_problem(write_env(text))
    assert problem.path == "access.scheme"
    assert "gcp cannot do internal endpoint without a public address" in problem.message
    assert load_environment(write_env(PUBLIC + text)).access.scheme == "internet-facing"


def test_gcp_cannot_scale_to_zero(write_env: WriteEnv) -> None:
    text = PUBLIC + MINIMAL.replace(
        "clouds:\n", "clouds:\n  gcp: {project_id: demo-proj, region: us-central1, zones: [us-central1-a]}\n"
    ).replace("{aws: [g6.xlarge]}", "{aws: [g6.xlarge], gcp: [g2-standard-8]}")
    problem = only_problem(
        write_env(text + "    capacity: {min: 0, max: 2}\n    autoscaling: {scale_to_zero: true}\n")
    )
    assert problem.path == "models[0].autoscaling.scale_to_zero"
    assert problem.message.startswith("gcp cannot do scale to zero")


def test_long_requests_are_refused_on_azure(write_env: WriteEnv) -> None:
    text = PUBLIC + MINIMAL.replace(
        "clouds:\n",
        "clouds:\n  azure: {subscription_id: 00000000-0000-0000-0000-000000000000, "
        "location: eastus, zones: ['1']}\n",
    ).replace("{aws: [g6.xlarge]}", "{aws: [g6.xlarge], azure: [Standard_NC24ads_A100_v4]}")
    text += "    load_balancing: {algorithm: round_robin}\n"
    problem = only_problem(write_env(text))
    assert problem.path == "models[0].load_balancing.request_timeout_s"
    assert "at most 240 s" in problem.message
    fixed = text.replace("{algorithm: round_robin}", "{algorithm: round_robin, request_timeout_s: 240}")
    assert load_environment(write_env(fixed)).models[0].load_balancing.request_timeout_s == 240


def test_host_routing_needs_a_domain(write_env: WriteEnv) -> None:
    problem = only_problem(write_env(MINIMAL + "access: {routing: host}\n"))
    assert problem.path == "access.routing"
    assert "needs tls.domain" in problem.message


def test_quantization_the_engine_cannot_serve_is_refused(write_env: WriteEnv) -> None:
    text = MINIMAL + "    engine: vllm\n    quantize: eetq\n"
    problem = only_problem(write_env(text))
    assert problem.path == "models[0].quantize"
    assert "vllm cannot serve 'eetq'" in problem.message


def test_a_file_is_shown_as_the_user_named_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file inside the working folder is shown relative to it, as the README shows; others in full."""
    broken = tmp_path / "environments" / "broken.yaml"
    broken.parent.mkdir()
    broken.write_text("")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as inside:
        load_environment(Path("environments/broken.yaml"))
    assert str(inside.value).startswith("environments/broken.yaml: the file is empty")
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(ConfigError) as outside:
        load_environment(broken)
    assert str(outside.value).startswith(f"{broken}: the file is empty")
