"""A rendered pod spec turned into what the kubelet would run, for member-level tests without
Kubernetes: for pod ``<sts>-<ordinal>`` (or a Job's or test Pod's pod) each container's
environment resolved as the kubelet does (envFrom, then env with fieldRef / configMapKeyRef /
secretKeyRef / resourceFieldRef, ``$(VAR)`` expansion in values, command and args), its
volumes materialised in a per-pod directory (ConfigMaps and Secrets with their modes and the
pod's fsGroup, emptyDirs fresh on every start, claims kept), and its mounts: mount path ->
that directory. Containers then run in their image's root with those mounts (roots.py), at the
paths the real pod sees.
"""
from __future__ import annotations

import base64
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import images

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined vars replaced, $$ -> $, unknown left as is."""
    return _VAR.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


@dataclass
class Container:
    name: str
    argv: list[str]
    env: dict[str, str]
    mounts: dict[str, Path] = field(default_factory=dict)   # mount path -> directory or file here
    image: str = ""                                          # the rendered image reference
    run_as: tuple[int, int] | None = None                    # (uid, gid) from the security contexts
    groups: tuple[int, ...] = ()                             # supplementary: the pod's fsGroup
    read_only_root: bool = False

    @property
    def recipe(self) -> str:
        """The test image that stands for this container's image."""
        return images.recipe_for(images.key_of(self.image))


class RenderedPod:
    def __init__(self, objects: list[dict[str, Any]], ordinal: int, pod_dir: Path, cpu_limit: str = "2",
                 workload: dict[str, Any] | None = None):
        """Pod ORDINAL of the StatefulSet, or (workload=a Job/Pod object) that one's pod."""
        self.objects = objects
        self.sts = workload or next(o for o in objects if o["kind"] == "StatefulSet")
        suffix = ordinal if self.sts["kind"] == "StatefulSet" else "job"
        self.name = f"{self.sts['metadata']['name']}-{suffix}"
        self.namespace = self.sts["metadata"].get("namespace", "default")
        self.spec = self.sts["spec"] if self.sts["kind"] == "Pod" else self.sts["spec"]["template"]["spec"]
        self.dir = pod_dir
        self.cpu_limit = cpu_limit
        self.fs_group = (self.spec.get("securityContext") or {}).get("fsGroup")

    # -- cluster objects ------------------------------------------------------------
    def _get(self, kind: str, name: str) -> dict[str, Any]:
        for obj in self.objects:
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"{kind}/{name} not rendered")

    def _configmap(self, name: str) -> dict[str, str]:
        return self._get("ConfigMap", name).get("data", {})

    def _secret(self, name: str) -> dict[str, str]:
        obj = self._get("Secret", name)
        out = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        out.update(obj.get("stringData") or {})
        return out

    # -- volumes ----------------------------------------------------------------------
    def _own(self, path: Path, mode: int) -> None:
        """Group ownership by the pod's fsGroup, as the kubelet sets it on a volume."""
        if self.fs_group is not None:
            os.chown(path, 0, int(self.fs_group))
            mode |= (mode & 0o700) >> 3
        path.chmod(mode)

    def materialize(self, fresh_data: bool = False, service_account: dict[str, str] | None = None) -> None:
        """Write ConfigMap/Secret volumes, make fresh emptyDirs; claims survive restarts.
        SERVICE_ACCOUNT: the files of a projected token volume (token, ca.crt, namespace)."""
        for vol in self.spec.get("volumes", []):
            target = self.dir / "volumes" / vol["name"]
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            if "emptyDir" in vol:
                self._own(target, 0o777)
                continue
            if "projected" in vol:
                files, mode = service_account or {}, vol["projected"].get("defaultMode", 0o644)
            elif "configMap" in vol:
                files, mode = self._configmap(vol["configMap"]["name"]), vol["configMap"].get("defaultMode", 0o644)
            elif "secret" in vol:
                files, mode = self._secret(vol["secret"]["secretName"]), vol["secret"].get("defaultMode", 0o644)
            else:
                raise NotImplementedError(vol)
            target.chmod(0o755)
            for key, text in files.items():
                (target / key).write_text(text)
                self._own(target / key, mode)
        for claim in self.claims():
            target = self.dir / "pvc" / claim
            if fresh_data:
                shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)
            if self.fs_group is not None and target.stat().st_gid != int(self.fs_group):   # OnRootMismatch
                for d, _, names in os.walk(target):
                    for p in [d, *(os.path.join(d, n) for n in names)]:
                        os.chown(p, os.stat(p).st_uid, int(self.fs_group), follow_symlinks=False)
                target.chmod(0o2775)

    def claims(self) -> list[str]:
        if self.sts["kind"] != "StatefulSet":
            return []
        return [c["metadata"]["name"] for c in self.sts["spec"].get("volumeClaimTemplates", [])]

    def _volume_dir(self, name: str) -> Path:
        return self.dir / ("pvc" if name in self.claims() else "volumes") / name

    # -- containers -------------------------------------------------------------------
    def _env(self, c: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                env.update(self._configmap(src["configMapRef"]["name"]))
            elif "secretRef" in src:
                env.update(self._secret(src["secretRef"]["name"]))
        for item in c.get("env", []):
            if "value" in item:
                env[item["name"]] = expand(str(item["value"]), env)
                continue
            ref = item.get("valueFrom", {})
            if "fieldRef" in ref:
                path = ref["fieldRef"]["fieldPath"]
                env[item["name"]] = {"metadata.name": self.name, "metadata.namespace": self.namespace}[path]
            elif "configMapKeyRef" in ref:
                env[item["name"]] = self._configmap(ref["configMapKeyRef"]["name"])[ref["configMapKeyRef"]["key"]]
            elif "secretKeyRef" in ref:
                env[item["name"]] = self._secret(ref["secretKeyRef"]["name"])[ref["secretKeyRef"]["key"]]
            elif "resourceFieldRef" in ref:
                env[item["name"]] = self.cpu_limit
            else:
                raise NotImplementedError(item)
        return env

    def _pool(self, init: bool) -> list[dict[str, Any]]:
        return self.spec.get("initContainers" if init else "containers", []) or []

    def container(self, name: str, init: bool = False) -> Container:
        c = next(x for x in self._pool(init) if x["name"] == name)
        env = self._env(c)
        argv = [expand(a, env) for a in c.get("command", []) + c.get("args", [])]
        mounts = {}
        for m in c.get("volumeMounts", []):
            source = self._volume_dir(m["name"])
            mounts[m["mountPath"]] = source / m["subPath"] if m.get("subPath") else source
        pod, own = self.spec.get("securityContext") or {}, c.get("securityContext") or {}
        uid = own.get("runAsUser", pod.get("runAsUser"))
        gid = own.get("runAsGroup", pod.get("runAsGroup", uid))
        run_as = None if uid is None else (int(uid), int(gid))
        groups = tuple(int(g) for g in [self.fs_group, *pod.get("supplementalGroups", [])] if g is not None)
        return Container(name, argv, env, mounts, c.get("image", ""), run_as, groups,
                         bool(own.get("readOnlyRootFilesystem")))

    def container_names(self, init: bool = False) -> list[str]:
        return [c["name"] for c in self._pool(init)]

    def is_sidecar(self, name: str) -> bool:
        """An init container with restartPolicy Always: a native sidecar, started before the
        main containers and running beside them (it is not run to completion)."""
        return any(c["name"] == name and c.get("restartPolicy") == "Always" for c in self._pool(True))

    def handler(self, name: str, what: str) -> list[str] | None:
        """Exec command of container NAME's preStop/postStart hook or of one of its probes
        (what = "preStop", "readinessProbe", ...); None when it has none."""
        c = next(x for x in self._pool(False) if x["name"] == name)
        spec = (c.get("lifecycle") or {}).get(what) if what in ("preStop", "postStart") else c.get(what)
        if not spec or "exec" not in spec:
            return None
        return list(spec["exec"]["command"])
