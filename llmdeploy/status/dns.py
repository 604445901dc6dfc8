"""Route 53's view of each cloud's endpoint, for `llmdeploy status`: healthy, unhealthy or not known yet.

Each cloud's check is a calculated one (healthy while every model's check is), and Route 53 keeps no
checker observations for those (GetHealthCheckStatus refuses them): their state is only published to
CloudWatch, as `AWS/Route53 HealthCheckStatus` (1 healthy, 0 unhealthy) in us-east-1, once a minute.
Reads the `health_check_ids` output of the `<env>-global` stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from llmdeploy.aws_session import aws_client
from llmdeploy.errors import OperationError

#: Route 53 publishes its health check metrics in this region only.
METRICS_REGION = "us-east-1"
NAMESPACE = "AWS/Route53"
METRIC = "HealthCheckStatus"
#: How far back the newest data point is looked for.
LOOKBACK = timedelta(minutes=10)
PERIOD_S = 60


@dataclass(frozen=True)
class DnsEndpointStatus:
    """One cloud's endpoint as Route 53 sees it; `healthy` is None until Route 53 has reported."""

    cloud: str
    health_check_id: str
    healthy: bool | None


def read_dns_status(
    stack: str, outputs: Mapping[str, object], environ: Mapping[str, str]
) -> list[DnsEndpointStatus]:
    """Each cloud's latest HealthCheckStatus; empty when the global stack has not been applied."""
    ids = outputs.get("health_check_ids")
    if not isinstance(ids, Mapping) or not ids:
        return []
    checks = {str(cloud): str(check) for cloud, check in ids.items()}
    end = datetime.now(UTC)
    queries = [
        {
            "Id": f"c{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": METRIC,
                    "Dimensions": [{"Name": "HealthCheckId", "Value": check}],
                },
                "Period": PERIOD_S,
                "Stat": "Minimum",
            },
        }
        for index, check in enumerate(checks.values())
    ]
    try:
        found = aws_client("cloudwatch", METRICS_REGION, environ).get_metric_data(
            MetricDataQueries=queries, StartTime=end - LOOKBACK, EndTime=end, ScanBy="TimestampDescending"
        )
    except (BotoCoreError, ClientError) as error:
        raise OperationError(
            f"Could not read Route 53's health checks of stack {stack} from CloudWatch ({METRICS_REGION}): "
            f"{error}. Check the credentials, then retry."
        ) from None
    latest = {result["Id"]: result["Values"][0] for result in found["MetricDataResults"] if result["Values"]}
    return [
        DnsEndpointStatus(cloud, check, None if f"c{index}" not in latest else latest[f"c{index}"] >= 1)
        for index, (cloud, check) in enumerate(checks.items())
    ]
