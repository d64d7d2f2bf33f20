"""Dynamic hostPath provisioner for the default StorageClass.

Why not kube-controller-manager's --enable-hostpath-provisioner: it creates each
volume directory as root with mode 0750 under a fixed /tmp path, so pods that
run as a non-root user (most charts) cannot write to their PVC. This one makes
world-writable directories under STATE/volumes, sets node affinity to the one
node, honours WaitForFirstConsumer, and deletes Released volumes whose reclaim
policy is Delete. It polls the API once a second; run by `localkube up` as a
host process: ``python -m localkube.provisioner STATE_DIR``.
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from .config import NET, NODE_NAME
from .kubeapi import Api, ApiError

PROVISIONER = "localkube.local/hostpath"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"


def _log(msg: str) -> None:
    print(time.strftime("%F %T"), msg, flush=True)


def pv_for(pvc: dict, sc: dict, root: Path) -> dict:
    meta = pvc["metadata"]
    name = f"pvc-{meta['uid']}"
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {ANN_PROVISIONED_BY: PROVISIONER},
                     "labels": {"localkube/pvc-namespace": meta["namespace"]}},
        "spec": {
            "capacity": {"storage": pvc["spec"]["resources"]["requests"]["storage"]},
            "accessModes": pvc["spec"].get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
            "storageClassName": sc["metadata"]["name"],
            "volumeMode": pvc["spec"].get("volumeMode", "Filesystem"),
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta["namespace"], "name": meta["name"],
                         "uid": meta["uid"]},
            "hostPath": {"path": str(root / name), "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE_NAME]}]}]}},
        },
    }


def sync_once(api: Api, root: Path) -> None:
    classes = {sc["metadata"]["name"]: sc
               for sc in api.get("/apis/storage.k8s.io/v1/storageclasses")["items"]
               if sc.get("provisioner") == PROVISIONER}
    for pvc in api.get("/api/v1/persistentvolumeclaims")["items"]:
        sc = classes.get(pvc["spec"].get("storageClassName") or "")
        if not sc or pvc["spec"].get("volumeName") or pvc.get("status", {}).get("phase") != "Pending":
            continue
        if pvc["metadata"].get("deletionTimestamp"):
            continue
        delayed = sc.get("volumeBindingMode") == "WaitForFirstConsumer"
        if delayed and ANN_SELECTED_NODE not in pvc["metadata"].get("annotations", {}):
            continue
        pv = pv_for(pvc, sc, root)
        path = Path(pv["spec"]["hostPath"]["path"])
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)
        try:
            api.create("/api/v1/persistentvolumes", pv)
            _log(f"provisioned {pv['metadata']['name']} for "
                 f"{pvc['metadata']['namespace']}/{pvc['metadata']['name']}")
        except ApiError as e:
            if e.status != 409:
                raise
    for pv in api.get("/api/v1/persistentvolumes")["items"]:
        if pv["metadata"].get("annotations", {}).get(ANN_PROVISIONED_BY) != PROVISIONER:
            continue
        if pv["spec"].get("persistentVolumeReclaimPolicy") != "Delete":
            continue
        if pv.get("status", {}).get("phase") not in ("Released", "Failed"):
            continue
        path = Path(pv["spec"]["hostPath"]["path"])
        if path.parent == root:
            shutil.rmtree(path, ignore_errors=True)
        try:
            api.delete(f"/api/v1/persistentvolumes/{pv['metadata']['name']}")
            _log(f"deleted {pv['metadata']['name']}")
        except ApiError as e:
            if e.status != 404:
                raise


def main(state: Path) -> None:
    root = state / "volumes"
    root.mkdir(parents=True, exist_ok=True)
    api = Api(f"https://{NET.node_ip}:{NET.apiserver_port}", state / "pki", "provisioner")
    _log(f"provisioner {PROVISIONER} for {root}")
    while True:
        try:
            sync_once(api, root)
        except Exception as e:      # keep going: the apiserver may restart
            _log(f"sync failed: {e}")
        time.sleep(1)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
