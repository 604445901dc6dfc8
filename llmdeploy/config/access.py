"""Who may reach the endpoints: scheme, client networks, API keys and TLS."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Literal, Self

from pydantic import Field, model_validator

from llmdeploy.catalog import Cloud
from llmdeploy.config.common import Cidr, SecretField, Strict
from llmdeploy.config.grammars import AwsCertificateArn, DomainName

#: Networks a public load balancer never sees clients from: RFC 1918 private ranges, RFC 6598 shared
#: address space (carrier-grade NAT), loopback and link-local. Client CIDR allowlists at an internet-facing
#: load balancer compare the socket address, which is a public address.
NON_PUBLIC_NETWORKS = tuple(
    IPv4Network(cidr)
    for cidr in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
    )
)
_OPT_OUT = "access.tls.insecure_plain_http_demo_only"


class Tls(Strict):
    """HTTPS for the endpoint. Default: plain HTTP (fine only for internal endpoints)."""

    domain: DomainName | None = Field(
        default=None,
        description="Public name clients use; GCP issues a managed certificate for it, Azure Front Door "
        "serves it as a custom domain. Host routing serves <model>.<domain>.",
    )
    aws_certificate_arn: AwsCertificateArn | None = Field(
        default=None, description="ACM certificate of the AWS load balancer's HTTPS listener."
    )
    insecure_plain_http_demo_only: bool = Field(
        default=False,
        description="Serve an internet-facing endpoint with an API key over plain HTTP, so the key "
        "crosses the internet in clear text. For throwaway demos only.",
    )


class Access(Strict):
    """Who may reach the endpoints."""

    scheme: Literal["internal", "internet-facing"] = Field(
        default="internal",
        description="internal: no public address (AWS only); internet-facing: a public load balancer.",
    )
    allowed_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="Client networks admitted. Default (internal): the VPC only. Internet-facing: public "
        "networks only (0.0.0.0/0 for everyone).",
    )
    api_key: SecretField | None = Field(default=None, description="Secret holding the API key clients send.")
    next_api_key: SecretField | None = Field(
        default=None,
        description="A second secret whose key is accepted alongside api_key, to rotate keys without "
        "downtime: add it, move the clients, then make it api_key.",
    )
    require_api_key: bool = Field(default=True, description="Internet-facing endpoints need an API key.")
    routing: Literal["path", "host"] = Field(
        default="path",
        description="Route several models by path prefix (/<model>/) or host (<model>.<domain>).",
    )
    tls: Tls = Field(default_factory=Tls, description="HTTPS settings.")

    @model_validator(mode="after")
    def _host_routing_needs_domain(self) -> Self:
        if self.routing == "host" and self.tls.domain is None:
            raise ValueError(
                "routing: host routing (<model>.<domain>) needs tls.domain: set it, or route by path"
            )
        return self

    @model_validator(mode="after")
    def _public_needs_guard(self) -> Self:
        if self.scheme != "internet-facing":
            return self
        if not self.allowed_cidrs:
            raise ValueError(
                "allowed_cidrs: an internet-facing endpoint needs client networks "
                "(write 0.0.0.0/0 to mean everyone)"
            )
        if self.require_api_key and self.api_key is None:
            raise ValueError(
                "api_key: an internet-facing endpoint needs an API key: "
                "write api_key: {secret: <name>}, or require_api_key: false"
            )
        return self

    @model_validator(mode="after")
    def _public_client_networks(self) -> Self:
        if self.scheme != "internet-facing":
            return self
        private = [
            (index, cidr)
            for index, cidr in enumerate(self.allowed_cidrs)
            if any(cidr.subnet_of(network) for network in NON_PUBLIC_NETWORKS)
        ]
        if private:
            raise ValueError(
                "\n".join(
                    f"allowed_cidrs[{index}]: {cidr} is a private, shared, loopback or link-local network, "
                    "and clients of a public load balancer always arrive from public addresses, so it "
                    "admits nobody: write the public addresses your clients' traffic leaves from"
                    for index, cidr in private
                )
            )
        return self

    def cloud_problems(self, clouds: list[Cloud]) -> list[str]:
        """Refusals that depend on the clouds: an API key crossing the internet in clear text."""
        keyed = self.scheme == "internet-facing" and self.api_key is not None
        if not keyed or self.tls.insecure_plain_http_demo_only:
            return []
        missing = {
            "aws": ("access.tls.aws_certificate_arn", self.tls.aws_certificate_arn, "an ACM certificate ARN"),
            "gcp": ("access.tls.domain", self.tls.domain, "a domain for the managed certificate"),
        }
        return [
            f"{key}: the {cloud} endpoint is internet-facing with an API key, so it must serve HTTPS "
            f"(else every request carries the key in clear text): set {what}, or, for a throwaway demo "
            f"only, {_OPT_OUT}: true, which lets anyone on the path read the key and the prompts"
            for cloud, (key, value, what) in missing.items()
            if cloud in clouds and value is None
        ]
