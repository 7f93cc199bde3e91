"""Process nodes: a node agent (dev tooling) that plays the kubelet so pods really run locally.

``python -m mlendpoints_dev.nodeagent CONFIG.json`` is started by
:class:`~mlendpoints_dev.LocalCluster` when it has process nodes. Each pod gets a network
namespace with an IP from its node's podCIDR on a host bridge (:mod:`.network`), its volumes as
host files (:mod:`.volumes`), and its containers as processes started by :mod:`.launch` from the
project's Python environment (:mod:`.containers`). See docs/devcluster.md, "Process nodes".
"""

from mlendpoints_dev.nodeagent.nodes import KIND_LABEL, TAINT_KEY

__all__ = ["KIND_LABEL", "TAINT_KEY"]
