"""Azure constructs: the same file and class names as modules/aws and modules/gcp."""

from modules.azure.access import Access
from modules.azure.gpu_fleet import GpuFleet
from modules.azure.load_balancer import LoadBalancer
from modules.azure.monitoring import Monitoring
from modules.azure.network import Network
from modules.azure.registry import Registry
from modules.azure.router_group import RouterGroup

__all__ = ["Access", "GpuFleet", "LoadBalancer", "Monitoring", "Network", "Registry", "RouterGroup"]
