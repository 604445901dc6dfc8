"""GCP constructs: the same file and class names as modules/aws and modules/azure."""

from modules.gcp.access import Access
from modules.gcp.gpu_fleet import GpuFleet
from modules.gcp.load_balancer import LoadBalancer
from modules.gcp.monitoring import Monitoring
from modules.gcp.network import Network

__all__ = ["Access", "GpuFleet", "LoadBalancer", "Monitoring", "Network"]
