"""The pure core: plain data in, decisions out. No Kubernetes client, kopf, metrics or API
models here (an import-linter contract holds it), so every module is testable alone."""
