"""One grammar per kind of value: every string a config file holds is checked against the real syntax
of what it names before anything renders it into Terraform, a boot file or a shell command.

The grammars are narrower than "anything the cloud accepts" where that costs nobody anything: none
of them admits `$`, `{`, `%`, quotes, `;`, spaces in names, newlines or control characters, so a value
can neither open a Terraform template (`${…}`, `%{…}`) nor break out of a rendered file.
Each grammar is also written into the JSON schema (`pattern`), so editors flag a bad value as it is typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

#: Longest bad value echoed back in a message; hostile input can be megabytes long.
_SHOWN_CHARS = 60

Check = Callable[[str], str | None]


def _shown(value: str) -> str:
    cut = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…"
    return repr(cut)


@dataclass(frozen=True)
class Grammar:
    """Annotation for a `str` that accepts only full matches of `pattern`, at most `max_length` long.

    `expected` completes "expected …" in the message; `extra` returns a further reason to refuse (or
    None); `echo=False` keeps the value out of the message (secret names may be secrets pasted by mistake).
    The pattern also goes into the JSON schema, so editors flag a bad value as it is typed.
    """

    pattern: str
    expected: str
    max_length: int
    extra: Check | None = None
    echo: bool = True

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        found = handler(schema)
        found["pattern"] = self.pattern
        return found

    def check(self, value: str) -> str:
        reason = None
        if len(value) > self.max_length:
            reason = f"longer than {self.max_length} characters"
        elif not re.fullmatch(self.pattern, value):
            reason = "not of the expected form"
        elif self.extra is not None:
            reason = self.extra(value)
        if reason is not None:
            shown = f"{_shown(value)} is " if self.echo else "the value is "
            raise ValueError(f"{shown}{reason}: expected {self.expected}")
        return value


def grammar(
    pattern: str, expected: str, *, max_length: int, extra: Check | None = None, echo: bool = True
) -> Grammar:
    """The `Grammar` annotation: `Annotated[str, grammar(...)]`."""
    return Grammar(pattern, expected, max_length, extra, echo)


def _forbid(*fragments: str) -> Check:
    def check(value: str) -> str | None:
        found = [fragment for fragment in fragments if fragment in value]
        return f"it contains {found[0]!r}" if found else None

    return check


# --- Hugging Face and containers ---------------------------------------------------------------

_HF_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
#: Hub repo ids: "alphanumeric chars or '-', '_', '.'; '--' and '..' are forbidden; '-' and '.' cannot
#: start or end the name, max length is 96" (huggingface_hub `validate_repo_id`), as `org/name`.
ModelId = Annotated[
    str,
    grammar(
        rf"^{_HF_PART}/{_HF_PART}$",
        "a Hugging Face model id org/name (letters, digits, . _ -; each part at most 96)",
        max_length=193,
        extra=_forbid("..", "--"),
    ),
]

#: A commit sha, or a branch/tag name in git's ref grammar (`git check-ref-format`) without spaces.
Revision = Annotated[
    str,
    grammar(
        r"^[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9_-])?$",
        "a 40-hex commit sha or a tag name (letters, digits, . _ / -)",
        max_length=128,
        extra=_forbid("..", "//", "@{", ".lock/", "/."),
    ),
]

_DOMAIN_PART = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
#: distribution/reference's grammar (reference/regexp.go): [domain[:port]/]path[:tag][@sha256:digest].
ImageReference = Annotated[
    str,
    grammar(
        rf"^(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*"
        r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$",
        "a container image reference registry/name:tag, optionally @sha256:<digest>",
        max_length=255,
    ),
]

#: An absolute URL path the load balancers and the proxy match exactly: no query, no `..`.
UrlPath = Annotated[
    str,
    grammar(
        r"^/[A-Za-z0-9/._~-]*$",
        "an absolute URL path of letters, digits and / . _ ~ - (for example /health)",
        max_length=255,
        extra=_forbid(".."),
    ),
]

# --- Names of cloud resources ------------------------------------------------------------------

#: An email address for alarm subscriptions, narrowed to characters every cloud's API takes.
Email = Annotated[
    str,
    grammar(
        r"^[A-Za-z0-9._+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
        "an email address like oncall@example.com",
        max_length=254,
    ),
]

#: A DNS label: what goes left of a zone (`api` in api.example.com).
DnsLabel = Annotated[
    str, grammar(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", "a lower-case DNS label", max_length=63)
]

#: A domain name of two or more lower-case labels, without the trailing dot.
DomainName = Annotated[
    str,
    grammar(
        r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        "a lower-case domain name like llm.example.com",
        max_length=253,
    ),
]

AwsAccountId = Annotated[str, grammar(r"^[0-9]{12}$", "a 12-digit AWS account id", max_length=12)]
AwsVpcId = Annotated[
    str, grammar(r"^vpc-[0-9a-f]{8,17}$", "a VPC id like vpc-0abc12345def67890", max_length=21)
]
AwsSubnetId = Annotated[
    str, grammar(r"^subnet-[0-9a-f]{8,17}$", "a subnet id like subnet-0abc12345def67890", max_length=24)
]
#: SSM parameter names: "a-z, A-Z, 0-9, and _.-" plus `/` for hierarchies; at most 2048 characters.
AwsSsmParameter = Annotated[
    str,
    grammar(
        r"^/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$",
        "an SSM parameter path like /aws/service/deeplearning/ami/...",
        max_length=2048,
    ),
]
_ACM_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]"
AwsCertificateArn = Annotated[
    str,
    grammar(
        rf"^arn:aws(?:-[a-z]+)*:acm:{_ACM_REGION}:[0-9]{{12}}:certificate/[A-Za-z0-9-]{{1,64}}$",
        "an ACM certificate ARN arn:aws:acm:<region>:<account>:certificate/<id>",
        max_length=200,
    ),
]
AwsSnsTopicArn = Annotated[
    str,
    grammar(
        rf"^arn:aws(?:-[a-z]+)*:sns:{_ACM_REGION}:[0-9]{{12}}:[A-Za-z0-9_-]{{1,256}}(?:\.fifo)?$",
        "an SNS topic ARN arn:aws:sns:<region>:<account>:<topic>",
        max_length=330,
    ),
]


def _s3_bucket_extra(value: str) -> str | None:
    # docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", value):
        return "formatted as an IP address"
    if value.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or value.endswith(("-s3alias", "--ol-s3")):
        return "using a prefix or suffix S3 reserves"
    return _forbid("..", ".-", "-.")(value)


S3Bucket = Annotated[
    str,
    grammar(
        r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$",
        "an S3 bucket name: 3-63 lower-case letters, digits, . and -",
        max_length=63,
        extra=_s3_bucket_extra,
    ),
]
#: cloud.google.com/storage/docs/buckets#naming (names without dots: at most 63 characters).
GcsBucket = Annotated[
    str,
    grammar(
        r"^[a-z0-9][a-z0-9_-]*[a-z0-9]$",
        "a Cloud Storage bucket name: 3-63 lower-case letters, digits, _ and -",
        max_length=63,
        extra=lambda value: (
            "reserved (goog prefix or google)" if value.startswith("goog") or "google" in value else None
        ),
    ),
]
#: An object key prefix in a state bucket: path segments of safe characters.
KeyPrefix = Annotated[
    str,
    grammar(
        r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$",
        "a key prefix of letters, digits, . _ - separated by /",
        max_length=200,
        extra=_forbid(".."),
    ),
]
#: A local file path (state file, `extends`): no shell or template characters.
FilePath = Annotated[
    str, grammar(r"^[A-Za-z0-9._/-]+$", "a file path of letters, digits and . _ / -", max_length=255)
]
#: A local state path: a file path that may name each stack as `{stack}` (replaced before Terraform sees it).
StatePath = Annotated[
    str,
    grammar(
        r"^(?:[A-Za-z0-9._/-]|\{stack\})+$",
        "a file path of letters, digits and . _ / -, with {stack} where each stack's name goes",
        max_length=255,
    ),
]
GcpProjectId = Annotated[
    str,
    grammar(
        r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        "a GCP project id: 6-30 lower-case letters, digits and -, starting with a letter",
        max_length=30,
    ),
]
#: Cloud DNS managed zone names: 1-63 lower-case letters, digits and -, starting with a letter
#: (Cloud DNS API reference, managedZones `name`).
GcpDnsZone = Annotated[
    str,
    grammar(
        r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$",
        "a Cloud DNS managed zone name: 1-63 lower-case letters, digits and -, starting with a letter",
        max_length=63,
    ),
]
GcpImageFamily = Annotated[
    str, grammar(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$", "a GCP image family name", max_length=63)
]
AzureSubscriptionId = Annotated[
    str,
    grammar(
        r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$",
        "an Azure subscription id (a GUID)",
        max_length=36,
    ),
]
#: learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules (ASCII subset).
AzureResourceGroup = Annotated[
    str,
    grammar(
        r"^[A-Za-z0-9._()-]*[A-Za-z0-9_()-]$",
        "an Azure resource group name: 1-90 letters, digits, . _ ( ) -, not ending in .",
        max_length=90,
    ),
]
AzureKeyVaultName = Annotated[
    str,
    grammar(
        r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$",
        "a Key Vault name: 3-24 letters, digits and -, starting with a letter",
        max_length=24,
        extra=_forbid("--"),
    ),
]
AzureStorageAccount = Annotated[
    str,
    grammar(r"^[a-z0-9]{3,24}$", "a storage account name: 3-24 lower-case letters and digits", max_length=24),
]
AzureContainer = Annotated[
    str,
    grammar(
        r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$",
        "a blob container name: 3-63 lower-case letters, digits and -",
        max_length=63,
        extra=_forbid("--"),
    ),
]

# --- Secret names, per store -------------------------------------------------------------------

#: Secrets Manager: "1-512 … alphanumeric and /_+=.@-" (API reference, CreateSecret Name).
AWS_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
#: Secret Manager: "[a-zA-Z_0-9-]{1,255}" (REST reference, projects.secrets.create secretId).
GCP_SECRET_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
#: Key Vault object names: "1-127 alphanumerics and hyphens" (Key Vault about keys, secrets, certificates).
AZURE_SECRET_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
#: AWS appends `-` and six random characters to a secret's ARN; IAM grants match `<name>-??????`, so a
#: name that itself ends like that makes the grant ambiguous (Secrets Manager user guide, "ARN").
AWS_AMBIGUOUS_SUFFIX = re.compile(r".*-[A-Za-z0-9]{6}")

SecretName = Annotated[
    str,
    grammar(
        AWS_SECRET_NAME.pattern.join("^$"),
        "a secret name: 1-512 letters, digits and / _ + = . @ - (AWS; GCP and Azure allow fewer, see below)",
        max_length=512,
        echo=False,
    ),
]

# --- Tags ----------------------------------------------------------------------------------------


def _reserved_tag_key(key: str) -> str | None:
    if key in {".", ".."}:
        return "not a key instance metadata can serve"
    if key.lower().startswith("aws:"):
        return "reserved: AWS keeps the aws: prefix for its own tags"
    return None


#: Tag keys in the intersection of what AWS allows in a tag ("letters, numbers, spaces and + - = . _ : / @")
#: and in instance metadata, which llmdeploy enables ("letters, digits and + - = . , _ : @"; no `/` or
#: space; not `.` or `..`: EC2 user guide, "Work with instance tags in instance metadata").
TagKey = Annotated[
    str,
    grammar(
        r"^[A-Za-z0-9+=._:@-]+$",
        "a tag key of 1-128 letters, digits and + - = . _ : @ (no spaces or /: tags are read through "
        "instance metadata)",
        max_length=128,
        extra=lambda value: _reserved_tag_key(value),
    ),
]
#: AWS tag values (letters, numbers, spaces and + - = . _ : / @), at most 256 characters (Azure: 256).
TagValue = Annotated[
    str,
    grammar(
        r"^[A-Za-z0-9 +=._:/@-]*$",
        "a tag value of up to 256 letters, digits, spaces and + - = . _ : / @",
        max_length=256,
    ),
]
