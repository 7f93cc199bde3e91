"""Azure VM sizes (``instance_type: Standard_DS3_v2``) as InstanceTypes.

Azure ML's managed online deployments name a VM size; a Kubernetes cluster has node pools and our
cluster-scoped InstanceType objects instead. :data:`SIZES` is the documented table (docs/cli.md)
of the common sizes Azure ML's docs use: converting a deployment that names one of them writes an
InstanceType named after it (``standard-ds3-v2``) whose *limits* are the VM's vCPUs, memory and
GPUs and whose *requests* are a quarter of those (so a small cluster can still schedule them; raise
them for production). ``--instance-type Standard_DS3_v2=cpu-small`` maps a size to an InstanceType
that already exists instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlendpoints.api.v1alpha1.base import API_VERSION


@dataclass(frozen=True)
class VmSize:
    """One Azure VM size: vCPUs, memory in GiB, NVIDIA GPUs."""

    cpus: int
    memory_gib: float
    gpus: int = 0


#: Azure VM size -> its shape (Azure's published sizes; the ones Azure ML's examples use).
SIZES: dict[str, VmSize] = {
    "Standard_DS1_v2": VmSize(1, 3.5),
    "Standard_DS2_v2": VmSize(2, 7),
    "Standard_DS3_v2": VmSize(4, 14),
    "Standard_DS4_v2": VmSize(8, 28),
    "Standard_DS5_v2": VmSize(16, 56),
    "Standard_D2as_v4": VmSize(2, 8),
    "Standard_D4as_v4": VmSize(4, 16),
    "Standard_D8as_v4": VmSize(8, 32),
    "Standard_D16as_v4": VmSize(16, 64),
    "Standard_F2s_v2": VmSize(2, 4),
    "Standard_F4s_v2": VmSize(4, 8),
    "Standard_F8s_v2": VmSize(8, 16),
    "Standard_F16s_v2": VmSize(16, 32),
    "Standard_E2s_v3": VmSize(2, 16),
    "Standard_E4s_v3": VmSize(4, 32),
    "Standard_E8s_v3": VmSize(8, 64),
    "Standard_E16s_v3": VmSize(16, 128),
    "Standard_NC4as_T4_v3": VmSize(4, 28, 1),
    "Standard_NC8as_T4_v3": VmSize(8, 56, 1),
    "Standard_NC16as_T4_v3": VmSize(16, 110, 1),
    "Standard_NC64as_T4_v3": VmSize(64, 440, 4),
    "Standard_NC6s_v3": VmSize(6, 112, 1),
    "Standard_NC12s_v3": VmSize(12, 224, 2),
    "Standard_NC24s_v3": VmSize(24, 448, 4),
    "Standard_NC24ads_A100_v4": VmSize(24, 220, 1),
    "Standard_NC48ads_A100_v4": VmSize(48, 440, 2),
}
_BY_LOWER = {k.lower(): k for k in SIZES}
#: a name the API accepts as an InstanceType (DNS-1123 subdomain, as Kubernetes object names)
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class UnknownSize(ValueError):
    """An Azure VM size not in :data:`SIZES` and not mapped with ``--instance-type``."""


def instance_type_name(size: str) -> str:
    """``Standard_DS3_v2`` -> ``standard-ds3-v2`` (the InstanceType :func:`instance_type` writes)."""
    return size.lower().replace("_", "-")


def is_azure_size(name: str) -> bool:
    """Whether ``name`` is spelled like an Azure VM size (``Standard_…``), not an InstanceType name."""
    return name.lower().startswith("standard_") or not _K8S_NAME.match(name)


def lookup(size: str) -> tuple[str, VmSize]:
    """The table's spelling and shape of ``size`` (case-insensitive).

    Raises:
        UnknownSize: not in the table; the message lists the sizes that are.
    """
    key = _BY_LOWER.get(size.lower())
    if key is None:
        known = ", ".join(SIZES)
        raise UnknownSize(
            f"{size!r} is not in the table of Azure VM sizes ({known}); map it to one of your cluster's "
            f"InstanceTypes with --instance-type {size}=NAME (kubectl get instancetypes), or use one of these"
        )
    return key, SIZES[key]


def _quarter_cpu(cpus: int) -> str:
    return f"{cpus * 250}m"


def instance_type(size: str) -> dict[str, Any]:
    """The InstanceType manifest for an Azure VM size in :data:`SIZES`.

    Returns:
        An ``InstanceType`` named :func:`instance_type_name` with limits = the VM (cpu in cores,
        memory in Mi, ``nvidia.com/gpu``) and requests = a quarter of cpu and memory (GPUs are
        whole: request = limit), plus the GPU toleration and node selector of the NVIDIA device plugin.

    Raises:
        UnknownSize: see :func:`lookup`.
    """
    key, vm = lookup(size)
    mem_mi = int(vm.memory_gib * 1024)
    limits: dict[str, Any] = {"cpu": str(vm.cpus), "memory": f"{mem_mi}Mi"}
    requests: dict[str, Any] = {"cpu": _quarter_cpu(vm.cpus), "memory": f"{mem_mi // 4}Mi"}
    spec: dict[str, Any] = {}
    if vm.gpus:
        limits["nvidia.com/gpu"] = vm.gpus
        spec["nodeSelector"] = {"nvidia.com/gpu.present": "true"}
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    spec["resources"] = {"requests": requests, "limits": limits}
    return {
        "apiVersion": API_VERSION,
        "kind": "InstanceType",
        "metadata": {
            "name": instance_type_name(key),
            "annotations": {"mlendpoints.io/azure-vm-size": key},
        },
        "spec": spec,
    }
