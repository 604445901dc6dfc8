"""A new GPU image reaches a running fleet only on purpose: `release --new-image` on the local emulator.

The environment reads its AMI from an SSM parameter the test owns. After the first apply and a
release into green, the parameter moves to another AMI: a plain apply keeps both slots on the old
one (their launch templates pin it), and `release --new-image` replaces only the idle slot's launch
template, so green runs the new AMI at 0% traffic while blue keeps serving on the old one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.project import Project, local_project

pytestmark = pytest.mark.terraform

STACK = "dev-aws"
PARAMETER = "/llmdeploy-test/gpu-ami"
NEW_REVISION = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Images:
    project: Project
    old: str
    new: str

    def template_image(self, slot: str) -> str:
        """The AMI of the launch template the slot's group launches from."""
        fleet = self.project.outputs(STACK)["fleets"][f"chat-{slot}"]
        autoscaling = self.project.client("autoscaling")
        (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[fleet["asg_name"]])[
            "AutoScalingGroups"
        ]
        spec = group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
        versions = self.project.client("ec2").describe_launch_template_versions(
            LaunchTemplateId=spec["LaunchTemplateId"], Versions=["$Latest"]
        )
        image: str = versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"]
        return image

    def run(self, *args: str) -> Any:
        done = self.project.run(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done


@pytest.fixture(scope="module")
def images(
    tmp_path_factory: pytest.TempPathFactory, terraform_binary: str, terraform_cli_env: dict[str, str]
) -> Iterator[Images]:
    root = tmp_path_factory.mktemp("release-image")
    with local_project(root, "images", terraform_cli_env["LLMDEPLOY_CACHE_DIR"]) as project:
        found = project.client("ec2").describe_images(Owners=["amazon"])["Images"]
        old, new = sorted(image["ImageId"] for image in found)[:2]
        project.client("ssm").put_parameter(Name=PARAMETER, Value=old, Type="String")
        dev = project.environments / "dev.yaml"
        text = dev.read_text(encoding="utf-8")
        dev.write_text(
            text.replace(
                "    region: us-east-1\n", f"    region: us-east-1\n    ami_parameter: {PARAMETER}\n"
            )
        )
        staged = Images(project, old, new)
        staged.run("apply", "dev", "--local", "--auto-approve")
        staged.run("release", "dev", "--model", "chat", "--revision", NEW_REVISION, "--local")
        project.client("ssm").put_parameter(Name=PARAMETER, Value=new, Type="String", Overwrite=True)
        yield staged


def test_a_new_image_does_not_slip_into_running_slots(images: Images) -> None:
    planned = images.run("plan", "dev", "--local", "--detailed-exitcode")
    assert "dev-aws" in planned.stdout
    assert (images.template_image("blue"), images.template_image("green")) == (images.old, images.old)


def test_release_new_image_rolls_only_the_idle_slot_onto_it(images: Images) -> None:
    done = images.run("release", "dev", "--model", "chat", "--new-image", "--local")
    assert "on the newest GPU image written into green at 0%" in done.stdout
    assert "dev-aws: replacing aws_launch_template.chat-green_LaunchTemplate_" in done.stdout
    assert images.template_image("green") == images.new
    assert images.template_image("blue") == images.old
    # The released slot runs the serving slot's version: only the image changed.
    text = (images.project.environments / "dev.yaml").read_text(encoding="utf-8")
    assert NEW_REVISION not in text
    again = images.run("plan", "dev", "--local", "--detailed-exitcode")
    assert "dev-aws" in again.stdout
