"""Every key of an environment file is explained: in the JSON schema editors read and in the README."""

from __future__ import annotations

from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.config.reference import reference_markdown, walk


def test_every_key_has_a_description() -> None:
    missing = [path for path, field in walk(EnvironmentConfig, "") if not field.description]
    assert missing == []


def test_the_reference_shows_the_grammar_of_a_value() -> None:
    assert "org/name" in reference_markdown()
