"""mlendpoints: Azure-ML-style online and batch endpoints on any Kubernetes cluster.

The package is split by role (see ``docs/architecture.md``): ``api`` holds the pydantic models
that are the CRDs' single source of truth; ``controller``/``backends``/``render``/``status``/``clients``
make up the kopf operator; ``runtime`` is the scoring server that runs in scoring pods. The local
control plane for tests and demos is the separate dev package ``mlendpoints_dev`` (``dev/``), not
part of this package.
"""

__version__ = "0.1.0"
