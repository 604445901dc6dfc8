"""llmdeploy: one YAML file per environment into GPU inference fleets on AWS, GCP and Azure."""

__version__ = "0.1.0"
