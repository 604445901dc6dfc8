"""Finding a provider mirror and writing the CLI config that routes providers to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmdeploy.errors import ConfigError
from llmdeploy.terraform.cli_config import (
    find_provider_mirror,
    mirrored_providers,
    render_cli_config,
    write_cli_config,
)


def _mirror(root: Path, *providers: str) -> Path:
    for provider in providers:
        (root / "registry.terraform.io" / provider / "5.100.0" / "linux_amd64").mkdir(parents=True)
    return root


def test_explicit_mirror_wins(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path / "m", "hashicorp/aws")
    assert find_provider_mirror({"LLMDEPLOY_PROVIDER_MIRROR": str(mirror)}) == mirror


def test_explicit_mirror_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LLMDEPLOY_PROVIDER_MIRROR"):
        find_provider_mirror({"LLMDEPLOY_PROVIDER_MIRROR": str(tmp_path / "missing")})


def test_conventional_folder_counts_only_with_a_registry_tree(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    (tmp_path / ".terraform.d" / "plugins").mkdir(parents=True)  # empty: not a mirror
    found = find_provider_mirror(env)
    assert found is None or found != tmp_path / ".terraform.d" / "plugins"
    _mirror(tmp_path / "data" / "terraform" / "plugins", "hashicorp/aws")
    found = find_provider_mirror(env)
    assert found in (
        Path("/opt/tf-plugins"),
        tmp_path / ".terraform.d" / "plugins",
        tmp_path / "data" / "terraform" / "plugins",
    )


def test_mirrored_providers_lists_host_namespace_type(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path, "hashicorp/aws", "hashicorp/google")
    assert mirrored_providers(mirror) == [
        "registry.terraform.io/hashicorp/aws",
        "registry.terraform.io/hashicorp/google",
    ]


def test_rendered_config_routes_only_mirrored_providers(tmp_path: Path) -> None:
    text = render_cli_config(Path('/m "x"'), ["registry.terraform.io/hashicorp/aws"], tmp_path / "cache")
    assert 'path    = "/m \\"x\\""' in text  # quoted as an HCL string
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in text
    assert 'exclude = ["registry.terraform.io/hashicorp/aws"]' in text
    assert f'plugin_cache_dir = "{tmp_path / "cache"}"' in text


def test_write_cli_config_writes_atomically_into_the_cache(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path / "m", "hashicorp/aws")
    env = {"LLMDEPLOY_PROVIDER_MIRROR": str(mirror), "LLMDEPLOY_CACHE_DIR": str(tmp_path / "c")}
    path = write_cli_config(env)
    assert path == tmp_path / "c" / "terraform" / "cli.tfrc"
    assert (tmp_path / "c" / "terraform" / "plugin-cache").is_dir()
    assert str(mirror) in path.read_text()
    assert sorted(p.name for p in path.parent.iterdir()) == ["cli.tfrc", "plugin-cache"]  # no temp left


def test_no_providers_in_mirror_means_no_config(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    env = {"LLMDEPLOY_PROVIDER_MIRROR": str(tmp_path / "m"), "LLMDEPLOY_CACHE_DIR": str(tmp_path / "c")}
    assert write_cli_config(env) is None
