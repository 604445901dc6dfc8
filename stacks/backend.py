"""Where each stack keeps its Terraform state, from the environment's `state` section.

Shared by every cloud's stack: the backend depends on the environment, not on the cloud deployed.
"""

from __future__ import annotations

import os
from pathlib import Path

from cdktn import (
    AzurermBackend,
    DataTerraformRemoteStateAzurerm,
    DataTerraformRemoteStateGcs,
    DataTerraformRemoteStateLocal,
    DataTerraformRemoteStateS3,
    GcsBackend,
    LocalBackend,
    S3Backend,
    TerraformRemoteState,
    TerraformStack,
)
from constructs import Construct

from llmdeploy.config.environment import AzurermState, GcsState, LocalState, S3State, State


def configure_backend(
    stack: TerraformStack, name: str, state: State, *, project_dir: Path, stack_dir: Path
) -> None:
    """Point `stack` (named `name`) at its state.

    A local state file lives in the project folder, not in the synthesized stack folder, so that
    deleting or re-synthesizing cdktf.out never loses it; the path is written relative to the
    stack folder, where Terraform runs, so the synthesized JSON names no machine's paths.
    """
    if isinstance(state, LocalState):
        LocalBackend(stack, path=_local_path(name, state, project_dir, stack_dir))
    elif isinstance(state, S3State):
        S3Backend(
            stack,
            bucket=state.bucket,
            key=_key(state.key_prefix, name),
            region=state.region,
            encrypt=True,
            use_lockfile=True,
        )
    elif isinstance(state, GcsState):
        GcsBackend(stack, bucket=state.bucket, prefix=f"{state.prefix}/{name}")
    else:
        assert isinstance(state, AzurermState)
        AzurermBackend(
            stack,
            resource_group_name=state.resource_group,
            storage_account_name=state.storage_account,
            container_name=state.container,
            key=_key(state.key_prefix, name),
        )


def remote_state(
    scope: Construct, id: str, name: str, state: State, *, project_dir: Path, stack_dir: Path
) -> TerraformRemoteState:
    """A data source reading the outputs of stack `name` from another stack (at `stack_dir`)."""
    if isinstance(state, LocalState):
        return DataTerraformRemoteStateLocal(scope, id, path=_local_path(name, state, project_dir, stack_dir))
    if isinstance(state, S3State):
        return DataTerraformRemoteStateS3(
            scope, id, bucket=state.bucket, key=_key(state.key_prefix, name), region=state.region
        )
    if isinstance(state, GcsState):
        return DataTerraformRemoteStateGcs(scope, id, bucket=state.bucket, prefix=f"{state.prefix}/{name}")
    return DataTerraformRemoteStateAzurerm(
        scope,
        id,
        resource_group_name=state.resource_group,
        storage_account_name=state.storage_account,
        container_name=state.container,
        key=_key(state.key_prefix, name),
    )


def _local_path(name: str, state: LocalState, project_dir: Path, stack_dir: Path) -> str:
    path = Path(state.file_for(name))
    return str(path if path.is_absolute() else Path(os.path.relpath(project_dir / path, stack_dir)))


def _key(prefix: str, name: str) -> str:
    return f"{prefix}/{name}.tfstate"
