"""pricewise: a cost-aware scheduler for training jobs on Kubernetes."""

__version__ = "0.1.0"
