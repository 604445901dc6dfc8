"""AWS constructs: the same file and class names as modules/gcp and modules/azure."""

from modules.aws.access import Access
from modules.aws.gpu_fleet import GpuFleet
from modules.aws.load_balancer import LoadBalancer
from modules.aws.monitoring import Monitoring
from modules.aws.network import Network

__all__ = ["Access", "GpuFleet", "LoadBalancer", "Monitoring", "Network"]
