"""Turn a rendered StatefulSet into what the kubelet would run for one of its pods.

For member-level tests without Kubernetes: for pod ``<sts>-<ordinal>`` this resolves each
container's environment exactly as the kubelet does (envFrom ConfigMaps, then env with
fieldRef / configMapKeyRef / secretKeyRef / resourceFieldRef, ``$(VAR)`` expansion in
env values, command and args), materialises its volumes into a per-pod directory, and maps
mount paths onto those directories (the one liberty taken: paths, not contents).
"""

from __future__ import annotations

import base64
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined vars replaced, $$ -> $, unknown left as is."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(sub, text)


@dataclass
class Container:
    name: str
    argv: list[str]
    env: dict[str, str]
    mounts: dict[str, Path] = field(default_factory=dict)
    image: str = ""
    run_as: tuple[int, int] | None = None  # (uid, gid) from the security contexts, if set


class RenderedPod:
    def __init__(self, objects: list[dict[str, Any]], ordinal: int, pod_dir: Path,
                 cpu_limit: str = "2",
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
    def materialize(self, fresh_data: bool = False) -> None:
        """Write ConfigMap/Secret volumes, create emptyDirs; PVC dirs survive restarts."""
        for vol in self.spec.get("volumes", []):
            target = self.dir / "volumes" / vol["name"]
            if "emptyDir" in vol:
                shutil.rmtree(target, ignore_errors=True)  # emptyDir dies with the pod
                target.mkdir(parents=True)
                continue
            if "projected" in vol:
                # service account tokens exist only in Kubernetes: an empty directory
                # (what uses them must cope without, as outside a cluster)
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True)
                continue
            if "configMap" in vol:
                files = self._configmap(vol["configMap"]["name"])
            elif "secret" in vol:
                files = self._secret(vol["secret"]["secretName"])
            else:
                raise NotImplementedError(vol)
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for key, text in files.items():
                (target / key).write_text(text)
                (target / key).chmod(0o555 if "configMap" in vol else 0o440)
        for claim in self.sts["spec"].get("volumeClaimTemplates", []) if self.sts["kind"] == "StatefulSet" else []:
            target = self.dir / "pvc" / claim["metadata"]["name"]
            if fresh_data:
                shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)

    def _volume_dir(self, name: str) -> Path:
        claims = {c["metadata"]["name"] for c in self.sts["spec"].get("volumeClaimTemplates", [])}
        return self.dir / ("pvc" if name in claims else "volumes") / name

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

    def container(self, name: str, init: bool = False) -> Container:
        pool = self.spec.get("initContainers" if init else "containers", [])
        c = next(x for x in pool if x["name"] == name)
        env = self._env(c)
        argv = [expand(a, env) for a in c.get("command", []) + c.get("args", [])]
        mounts = {m["mountPath"]: self._volume_dir(m["name"]) for m in c.get("volumeMounts", [])}
        mapped = Container(name, argv, env, mounts, c.get("image", ""), self._run_as(c))
        return self._map_paths(mapped)

    def _run_as(self, c: dict[str, Any]) -> tuple[int, int] | None:
        """The container's uid and gid: its securityContext over the pod's (None when unset)."""
        pod, own = self.spec.get("securityContext") or {}, c.get("securityContext") or {}
        uid = own.get("runAsUser", pod.get("runAsUser"))
        gid = own.get("runAsGroup", pod.get("runAsGroup", uid))
        return None if uid is None else (int(uid), int(gid))

    def container_names(self, init: bool = False) -> list[str]:
        return [c["name"] for c in self.spec.get("initContainers" if init else "containers", []) or []]

    def is_sidecar(self, name: str) -> bool:
        """An init container with restartPolicy Always: a native sidecar, started before the
        main containers and running beside them (it is not run to completion)."""
        return any(c["name"] == name and c.get("restartPolicy") == "Always"
                   for c in self.spec.get("initContainers") or [])

    def image_of(self, name: str) -> str:
        pool = (self.spec.get("initContainers") or []) + (self.spec.get("containers") or [])
        return next(c["image"] for c in pool if c["name"] == name)

    def handler(self, name: str, what: str) -> list[str] | None:
        """Exec command of container NAME's preStop/postStart hook or of one of its probes
        (what = "preStop", "readinessProbe", ...), paths mapped; None when it has none."""
        c = next(x for x in self.spec.get("containers", []) if x["name"] == name)
        spec = (c.get("lifecycle") or {}).get(what) if what in ("preStop", "postStart") else c.get(what)
        if not spec or "exec" not in spec:
            return None
        mounts = {m["mountPath"]: self._volume_dir(m["name"]) for m in c.get("volumeMounts", [])}
        mapped = self._mapper(mounts)
        return [mapped(a) for a in spec["exec"]["command"]]

    @staticmethod
    def _mapper(mounts: dict[str, Path]):
        """One-pass substitution of mount paths (longest first) by the pod's directories."""
        if not mounts:
            return lambda text: text
        alternatives = "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True))
        pattern = re.compile(rf"(?<![\w/])({alternatives})(?=/|$|\s|,|\")", re.M)
        return lambda text: pattern.sub(lambda m: str(mounts[m.group(1)]), text)

    def _map_paths(self, c: Container) -> Container:
        mapped = self._mapper(c.mounts)
        argv = [c.argv[0]] + [mapped(a) for a in c.argv[1:]]
        env = {k: mapped(v) for k, v in c.env.items()}
        return Container(c.name, argv, env, c.mounts, c.image, c.run_as)

    def map_file(self, path: Path, container: Container) -> None:
        """Rewrite mount paths inside a file the pod wrote (e.g. etcd's config)."""
        path.write_text(self._mapper(container.mounts)(path.read_text()))
