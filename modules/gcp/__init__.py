"""GCP constructs: the same file and class names as modules/aws and modules/azure where they overlap."""

from modules.gcp.access import Access
from modules.gcp.engine_metrics import EngineMetrics
from modules.gcp.gpu_fleet import GpuFleet
from modules.gcp.load_balancer import LoadBalancer
from modules.gcp.monitoring import Monitoring
from modules.gcp.network import Network
from modules.gcp.registry import RegistryMirrors

__all__ = ["Access", "EngineMetrics", "GpuFleet", "LoadBalancer", "Monitoring", "Network", "RegistryMirrors"]
