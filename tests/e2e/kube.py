"""A small Kubernetes client for the e2e suite (kubernetes' Python client, no kubectl text)."""

from __future__ import annotations

import time
from pathlib import Path

from kubernetes import client, config
from kubernetes.stream import stream


class Kube:
    def __init__(self, kubeconfig: Path):
        self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)

    # -- queries -----------------------------------------------------------------
    def pods(self, ns: str, selector: str = "") -> list:
        return self.core.list_namespaced_pod(ns, label_selector=selector).items

    @staticmethod
    def ready(pod) -> bool:
        if pod.metadata.deletion_timestamp is not None:
            return False
        conds = pod.status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conds)

    def ready_names(self, ns: str, selector: str) -> list[str]:
        return sorted(p.metadata.name for p in self.pods(ns, selector) if self.ready(p))

    def exec(self, ns: str, pod: str, container: str, command: list[str], timeout: int = 120) -> str:
        return stream(self.core.connect_get_namespaced_pod_exec, pod, ns, container=container,
                      command=command, stderr=True, stdin=False, stdout=True, tty=False,
                      _request_timeout=timeout)

    def wait(self, what: str, cond, timeout: float = 300, interval: float = 1.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = cond()
                if last:
                    return last
            except Exception as err:  # noqa: BLE001 - transient API/exec errors while pods move
                last = err
            time.sleep(interval)
        raise TimeoutError(f"{what}: not within {timeout}s (last: {last!r})")

    def delete_namespace(self, ns: str, timeout: float = 180) -> None:
        """Delete namespace NS, if it exists, and wait until it is gone."""
        from kubernetes import client

        try:
            self.core.delete_namespace(ns)
        except client.exceptions.ApiException as err:
            if err.status != 404:
                raise
            return
        self.wait(f"namespace {ns} gone",
                  lambda: ns not in [n.metadata.name for n in self.core.list_namespace().items], timeout=timeout)

    def freeze(self, ns: str, pod: str, frozen: bool) -> None:
        """Freeze or thaw every process of POD: a hung node, as far as its pods go (nothing
        answers, nothing restarts). Through the node's cgroups on this machine: the cgroup v1
        freezer (found under any parent: localkube's kubepods, or a kind node's container) or
        cgroup v2's cgroup.freeze."""
        import glob

        uid = self.core.read_namespaced_pod(pod, ns).metadata.uid
        names = {f"pod{uid}", f"pod{uid.replace('-', '_')}"}
        # cgroupfs names a pod's cgroup pod<uid>, the systemd driver (kind's kubelet)
        # kubelet-kubepods-<qos>-pod<uid_with_underscores>.slice
        v1 = [d for n in names for d in glob.glob(f"/sys/fs/cgroup/freezer/**/*{n}*", recursive=True)
              if Path(d, "freezer.state").exists()]
        v2 = [d for n in names for d in glob.glob(f"/sys/fs/cgroup/**/{n}*", recursive=True)
              if Path(d, "cgroup.freeze").exists()]
        if v1:
            for d in v1:  # kind: the same pod cgroup may be seen through more than one path
                Path(d, "freezer.state").write_text("FROZEN" if frozen else "THAWED")
        elif v2:
            Path(v2[0], "cgroup.freeze").write_text("1" if frozen else "0")
        else:
            raise RuntimeError(f"no cgroup of pod {pod} ({uid}) on this machine: freezing needs the node's cgroups")

