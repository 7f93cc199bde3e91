"""A dev provisioner: PVCs of StorageClass ``dev-hostpath`` get a PV backed by a host folder.

The agent applies the StorageClass at start and calls :func:`provision` for every PVC it sees;
a Pending claim of that class gets a PV named ``pvc-<claim uid>`` with ``hostPath`` under
``<state>/nodeagent/volumes/<namespace>/<claim>`` (pre-bound through ``claimRef``, so
kube-controller-manager's PV controller binds it at once). Reclaim policy ``Delete``: when the
claim goes, the PV is released; :func:`reclaim` then deletes the PV and its folder. The class is
not the default: claims name it (``storageClassName: dev-hostpath``).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from mlendpoints_dev.nodeagent.kube import ApiError, Kube, Obj

log = logging.getLogger("nodeagent")
STORAGE_CLASS = "dev-hostpath"
PROVISIONER = "mlendpoints.io/dev-hostpath"


def ensure_storage_class(kube: Kube) -> None:
    sc = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
    kube.apply(f"/apis/storage.k8s.io/v1/storageclasses/{STORAGE_CLASS}", sc)


def provision(kube: Kube, pvc: Obj, base: Path) -> None:
    """Create the PV for a Pending ``dev-hostpath`` claim (no-op for anything else)."""
    spec, meta = pvc.get("spec") or {}, pvc["metadata"]
    if spec.get("storageClassName") != STORAGE_CLASS or spec.get("volumeName"):
        return
    if (pvc.get("status") or {}).get("phase") not in (None, "Pending"):
        return
    folder = base / meta["namespace"] / meta["name"]
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    pv: Obj = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": STORAGE_CLASS,
            "hostPath": {"path": str(folder), "type": "DirectoryOrCreate"},
            "claimRef": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
                         "apiVersion": "v1", "kind": "PersistentVolumeClaim"},
        },
    }  # fmt: skip
    try:
        kube.request("POST", "/api/v1/persistentvolumes", pv)
        log.info(
            "provisioned %s for %s/%s at %s", pv["metadata"]["name"], meta["namespace"], meta["name"], folder
        )
    except ApiError as e:
        if e.status != 409:
            log.warning("provisioning %s/%s: %s", meta["namespace"], meta["name"], e)


def reclaim(kube: Kube, pv: Obj, base: Path) -> None:
    """Delete a Released PV we provisioned, and its folder."""
    annotations = pv["metadata"].get("annotations") or {}
    if annotations.get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
        return
    if (pv.get("status") or {}).get("phase") != "Released":
        return
    path = Path(((pv.get("spec") or {}).get("hostPath") or {}).get("path", ""))
    try:
        kube.request("DELETE", f"/api/v1/persistentvolumes/{pv['metadata']['name']}")
    except ApiError as e:
        if e.status != 404:
            log.warning("reclaiming %s: %s", pv["metadata"]["name"], e)
            return
    if base in path.parents:
        shutil.rmtree(path, ignore_errors=True)
