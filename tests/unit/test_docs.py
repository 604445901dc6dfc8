"""The README's generated sections match the data they come from."""

from __future__ import annotations

from llmdeploy.capabilities import CAPABILITIES, Feature
from llmdeploy.docs import refresh
from tests.conftest import REPO


def test_readme_generated_sections_are_current() -> None:
    text = (REPO / "README.md").read_text()
    assert refresh(text) == text, "run: python -m llmdeploy.docs"


def test_feature_matrix_shows_every_feature_and_cloud_answer() -> None:
    text = (REPO / "README.md").read_text()
    for feature in Feature:
        assert f"| {feature.value} |" in text
    assert CAPABILITIES["azure"][Feature.LEAST_OUTSTANDING_REQUESTS].how in text


def test_config_reference_lists_every_key_with_its_description() -> None:
    text = (REPO / "README.md").read_text()
    assert "| `models[].capacity.max` | `int` | `2` |" in text
    assert "| `access.scheme` | `'internal' \\| 'internet-facing'` | `'internal'` |" in text
    assert "Release slots and their traffic weights" in text
