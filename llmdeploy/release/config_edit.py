"""Edit one model's release slots in its environment file, and only if the result is valid.

Every traffic change of a release goes through the environment file (kept in git), so the file,
the Terraform state and the traffic always agree. The edit keeps comments, key order and quoting;
the edited text is validated as the loader would read it before it replaces the file, so an edit
that would make the environment invalid never lands.

The edit goes into the environment file itself. When its models come from a file it extends,
the models list is copied into it first (lists replace whole when merged), so the release
changes this environment only, never the others sharing the base file.
"""

from __future__ import annotations

import copy
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from llmdeploy.atomic_write import write_atomically
from llmdeploy.config.diagnostics import problems_from
from llmdeploy.config.environment import EnvironmentConfig
from llmdeploy.config.model import Slot
from llmdeploy.config.source import misplaced_env_references, read_source
from llmdeploy.errors import ConfigError, OperationError, Problem
from llmdeploy.release.yaml_edit import delete_key, dump_document, load_document, set_key

#: Per slot, version keys to set (a value) or to remove (None: the slot inherits the model's).
Versions = Mapping[Slot, Mapping[str, str | None]]
#: A refusal of an edited, valid config (raises `ConfigError`).
Check = Callable[[EnvironmentConfig], None]


def edit_slots(
    env_path: Path,
    model: str,
    weights: Mapping[Slot, int],
    versions: Versions | None = None,
    check: Check | None = None,
) -> EnvironmentConfig:
    """Set the weights (and versions) of `model`'s slots in `env_path`; return the new config.

    `check`: a further refusal of the edited config (the budget), run before the file is written.

    Raises:
        ConfigError: the model is not in the file, or the edited environment would be invalid
            (the file is then left as it was).
    """
    _check_writable(env_path)
    document = _document_with_models(env_path)
    slots = _slots(_model_entry(document, model, env_path))
    for slot, weight in weights.items():
        set_key(_slot_entry(slots, slot), "weight", weight)
    for slot, keys in (versions or {}).items():
        entry = _slot_entry(slots, slot)
        for key, value in keys.items():
            if value is None:
                delete_key(entry, key)
            else:
                set_key(entry, key, value)
    return _write_valid(env_path, document, check)


def remove_slot(env_path: Path, model: str, slot: Slot) -> EnvironmentConfig:
    """Remove `slot` (at 0%) from `model`'s slots in `env_path`: its fleet goes at the next apply."""
    _check_writable(env_path)
    document = _document_with_models(env_path)
    delete_key(_slots(_model_entry(document, model, env_path)), slot)
    return _write_valid(env_path, document, None)


def _write_valid(env_path: Path, document: CommentedMap, check: Check | None) -> EnvironmentConfig:
    """Write the edited `document` over `env_path` if it validates (and passes `check`)."""
    text = dump_document(document)
    try:
        config = _validated(text, env_path)
        if check is not None:
            check(config)
        if text != env_path.read_text(encoding="utf-8"):
            write_atomically(env_path, text)
    except OSError as error:
        raise OperationError(
            f"Could not write the edit into {env_path} ({error.strerror or error}); the file is unchanged "
            "and nothing was deployed. Fix the cause (disk space, permissions) and run the command again."
        ) from None
    return config


def _check_writable(env_path: Path) -> None:
    """Refuse, before anything is deployed, a file (or folder) the edit could not be written to.

    The folder matters too: the edit is validated in a temporary file beside the environment
    file, then renamed over it.
    """
    for path, what in ((env_path, "file"), (env_path.parent, "folder")):
        # The owner's write bit as well: root may write anything, but a file made read-only on
        # purpose is not edited behind its owner's back.
        if not (os.access(path, os.W_OK) and path.stat().st_mode & stat.S_IWUSR):
            raise ConfigError(
                [
                    Problem(
                        f"the environment {what} {path} is read-only: release, promote and rollback "
                        "write every traffic change into the environment file before applying it",
                        file=str(env_path),
                        hint=f"make {path} writable (e.g. chmod u+w), then run the command again",
                    )
                ]
            )


def _document_with_models(env_path: Path) -> CommentedMap:
    document = load_document(env_path.read_text(encoding="utf-8"))
    if "models" not in document:
        models_file = _models_file(env_path, document)
        inherited = load_document(models_file.read_text(encoding="utf-8"))["models"]
        set_key(document, "models", copy.deepcopy(inherited))
        document.yaml_set_comment_before_after_key(
            "models",
            before=f"Copied from {models_file.name} by `llmdeploy release`: "
            "this environment's slots differ from its base's.",
        )
    return document


def _models_file(env_path: Path, document: CommentedMap) -> Path:
    """The file of the `extends` chain whose `models` list this environment uses."""
    path, current = env_path, document
    while "models" not in current:
        parent = current.get("extends")
        if not isinstance(parent, str):
            raise ConfigError([Problem("no file of the `extends` chain lists models", file=str(env_path))])
        path = path.parent / parent
        current = load_document(path.read_text(encoding="utf-8"))
    return path


def _model_entry(document: CommentedMap, model: str, env_path: Path) -> CommentedMap:
    for entry in document["models"]:
        if isinstance(entry, CommentedMap) and entry.get("name") == model:
            return entry
    names = [str(entry.get("name")) for entry in document["models"] if isinstance(entry, CommentedMap)]
    raise ConfigError(
        [
            Problem(
                f"no model {model!r} in this environment",
                path="models",
                file=str(env_path),
                hint=f"its models: {', '.join(names)}",
            )
        ]
    )


def _slots(model_entry: CommentedMap) -> CommentedMap:
    if "slots" not in model_entry:
        # The default when a model names no slots: everything on blue.
        set_key(model_entry, "slots", CommentedMap([("blue", CommentedMap([("weight", 100)]))]))
    slots: CommentedMap = model_entry["slots"]
    return slots


def _slot_entry(slots: CommentedMap, slot: Slot) -> CommentedMap:
    if slot not in slots:
        set_key(slots, slot, CommentedMap([("weight", 0)]))
    entry: CommentedMap = slots[slot]
    return entry


def _validated(text: str, env_path: Path) -> EnvironmentConfig:
    """The config `text` would load as at `env_path` (its `extends` resolved from there)."""
    fd, temp_name = tempfile.mkstemp(prefix=f".{env_path.stem}.", suffix=".check.yaml", dir=env_path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        source = read_source(temp)
        source.data.setdefault("name", env_path.stem)
        problems = misplaced_env_references(source)
        try:
            config = EnvironmentConfig.model_validate(source.data)
        except ValidationError as error:
            problems += problems_from(error, source, EnvironmentConfig)
            raise ConfigError([_refused(problem, temp, env_path) for problem in problems]) from None
    finally:
        temp.unlink(missing_ok=True)
    if problems:
        raise ConfigError([_refused(problem, temp, env_path) for problem in problems])
    return config


def _refused(problem: Problem, temp: Path, env_path: Path) -> Problem:
    """A problem of the edited text, told against the real file (which was left unchanged)."""
    file = str(env_path) if problem.file in (str(temp), str(temp.resolve())) else problem.file
    message = f"{problem.message} (the edit was not written)"
    return replace(problem, file=file, message=message)
