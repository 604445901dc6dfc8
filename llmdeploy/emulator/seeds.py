"""Public data that real AWS publishes and moto does not: seeded, not corrected.

AWS publishes the current Deep Learning AMI ids as public SSM parameters under
`/aws/service/deeplearning/ami/...` in every region (see the DLAMI release notes,
"Query AMI-ID with AWSCLI"). moto ships the Amazon Linux and ECS parameter trees but not
this one, so a launch template that resolves the DLAMI fails locally with "couldn't find
resource". The seed points these names at a stock AMI that moto loads into every region,
which is enough for plans and applies to run; the id is of course not a real, current
DLAMI. The seed is loaded lazily, the same way moto loads its own `/aws/service` trees,
so it appears in every account and region and survives `/moto-api/reset`.
"""

from __future__ import annotations

import functools

from moto.core.utils import utcnow
from moto.ssm.models import Parameter, ParameterDict

DLAMI_PREFIX = "/aws/service/deeplearning/ami"
#: Canonical publishes the current Ubuntu server AMIs the same way (the router VMs boot them:
#: documentation.ubuntu.com/aws, "Find Ubuntu images on AWS"); moto ships none of them either.
UBUNTU_PREFIX = "/aws/service/canonical/ubuntu/server"
_PREFIXES = (DLAMI_PREFIX, UBUNTU_PREFIX)

# Named "Deep Learning AMI Ubuntu Linux - 2.4_Oct2017" in moto's ec2/resources/amis.json,
# which moto loads into every region unless MOTO_EC2_LOAD_DEFAULT_AMIS=false.
SEED_AMI_ID = "ami-dca37ea5"

SEEDED_PARAMETERS: tuple[str, ...] = (
    f"{DLAMI_PREFIX}/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id",
    f"{DLAMI_PREFIX}/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id",
    f"{UBUNTU_PREFIX}/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
    f"{UBUNTU_PREFIX}/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id",
)

_SEEDED_FLAG = "_llmdeploy_dlami_seeded"


def _seed(parameters: ParameterDict) -> None:
    """Add the DLAMI parameters to one region's parameter store, once."""
    setattr(parameters, _SEEDED_FLAG, True)
    for name in SEEDED_PARAMETERS:
        # dict's own methods: ParameterDict's would call the loading hook again.
        if dict.get(parameters, name):
            continue  # someone put their own value first: theirs wins
        dict.__setitem__(parameters, name, [_parameter(parameters.account_id, name)])


def _parameter(account_id: str, name: str) -> Parameter:
    # Same shape as moto's own seeded /aws/service/ami-amazon-linux-latest entries.
    return Parameter(  # type: ignore[abstract]  # moto instantiates it the same way
        account_id=account_id,
        name=name,
        value=SEED_AMI_ID,
        parameter_type="String",
        description=None,
        allowed_pattern=None,
        keyid=None,
        last_modified_date=utcnow(),
        version=1,
        data_type="text",
    )


def _covers_seed(key: str) -> bool:
    """True for a seeded name, a name under a seeded prefix, or a path above one ("/aws")."""
    return any(key.startswith(prefix) or prefix.startswith(key.rstrip("/") + "/") for prefix in _PREFIXES)


def seed_dlami_parameters() -> None:
    """Make every region's SSM parameter store answer the DLAMI public parameters.

    Wraps `ParameterDict._check_loading_status`, the hook moto calls before any read or
    path listing, like its own lazy loaders for `/aws/service/...` trees.
    """
    original = ParameterDict._check_loading_status
    if getattr(original, _SEEDED_FLAG, False):
        return

    @functools.wraps(original)
    def check_loading_status(self: ParameterDict, key: str) -> None:
        original(self, key)
        if _covers_seed(str(key or "")) and not getattr(self, _SEEDED_FLAG, False):
            _seed(self)

    setattr(check_loading_status, _SEEDED_FLAG, True)
    ParameterDict._check_loading_status = check_loading_status  # type: ignore[method-assign]
