"""The instance boot bundle: cloud-init user data that turns a GPU VM into a serving replica.

`user_data(plan, fleet)` is what a cloud's constructs put into their launch template / instance
template / scale set, already in the form that cloud's Terraform argument takes.
"""

from llmdeploy.boot.bundle import boot_files, user_data

__all__ = ["boot_files", "user_data"]
