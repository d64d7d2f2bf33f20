"""Run, check and tear down the single-node cluster.

    kubeconfig = up()      # idempotent; returns STATE/kubeconfig
    down()                 # stops what up() started, removes what it made
    status()

Components (host processes, PID files in STATE/pids, logs in STATE/logs):
etcd, kube-apiserver, containerd (own socket/root under STATE), kube-controller-
manager, kube-scheduler, kubelet, kube-proxy (iptables), CoreDNS (on the node IP,
behind the kube-dns Service IP), and the hostPath provisioner.
"""
from __future__ import annotations

import calendar
import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import build, config, images, pki
from .build import log
from .config import NET, NODE_NAME
from .kubeapi import Api
from .procs import Procs

# start order; down() stops in reverse
COMPONENTS = ["etcd", "kube-apiserver", "containerd", "kube-controller-manager",
              "kube-scheduler", "kubelet", "kube-proxy", "coredns", "provisioner"]
HOST_TOOLS = {"containerd": "containerd", "ctr": "containerd", "runc": "runc",
              "iptables": "iptables", "ip": "iproute2", "openssl": "openssl",
              "debootstrap": "debootstrap"}
CNI_BIN = Path("/usr/lib/cni")
APT_PACKAGES = ["containerd", "runc", "containernetworking-plugins", "iptables", "gcc",
                "libc6-dev", "debootstrap", "iproute2", "openssl", "conntrack", "util-linux",
                "mount"]


class ClusterError(RuntimeError):
    pass


# ---- helpers -----------------------------------------------------------------

def state_dir(state: Path | str | None = None) -> Path:
    return Path(state) if state else config.default_state_dir()


def _run(cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if check and proc.returncode != 0:
        raise ClusterError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return proc


def _write(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    if mode is not None:
        path.chmod(mode)


def _sysctl(key: str, value: str | None = None) -> str:
    p = Path("/proc/sys") / key.replace(".", "/")
    if value is not None:
        p.write_text(value)
    return p.read_text().strip()


def setup() -> None:
    """Install the Debian packages the cluster needs (apt-get; root). Only what is
    missing is installed, so a provisioned machine costs one dpkg query."""
    missing = [p for p in APT_PACKAGES
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
                                 ).stdout.strip() != "install ok installed"]
    if not missing:
        return
    log(f"apt-get install {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def check_host() -> None:
    missing = [pkg for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool)]
    if not (CNI_BIN / "bridge").exists():
        missing.append("containernetworking-plugins")
    if missing:
        raise ClusterError(f"missing host packages {sorted(set(missing))}: "
                           "run `python -m localkube setup` (apt-get, as root)")
    if os.geteuid() != 0:
        raise ClusterError("localkube needs root (mounts, bridges, iptables, cgroups)")


class Layout:
    """Where everything lives under the state directory."""

    def __init__(self, state: Path):
        self.state = state
        self.pki = state / "pki"
        self.kubeconfigs = state / "kubeconfigs"
        self.admin_kubeconfig = state / "kubeconfig"
        self.etcd_data = state / "etcd"
        self.containerd = state / "containerd"
        self.containerd_sock = self.containerd / "containerd.sock"
        self.cni_conf = state / "cni" / "net.d"
        self.cni_ipam = state / "cni" / "ipam"
        self.kubelet_root = state / "kubelet"
        self.conf = state / "conf"
        self.volumes = state / "volumes"
        self.procs = Procs(state)

    def kubeconfig(self, client: str) -> Path:
        return self.kubeconfigs / f"{client}.yaml"


OWNER_FILE = Path("/run/localkube/owner")   # which state dir holds the host-wide pieces


def _owner() -> Path | None:
    try:
        return Path(OWNER_FILE.read_text().strip())
    except OSError:
        return None


def _claim_host(lay: Layout) -> None:
    """Only one cluster at a time owns the bridge, IPs, ports and iptables rules."""
    owner = _owner()
    if owner and owner != lay.state.resolve():
        other = Layout(owner)
        alive = [n for n in COMPONENTS if other.procs.pid(n)]
        if alive:
            raise ClusterError(f"another localkube cluster runs from {owner} "
                               f"({', '.join(alive)}): `python -m localkube --state {owner} down` first")
    OWNER_FILE.parent.mkdir(parents=True, exist_ok=True)
    OWNER_FILE.write_text(f"{lay.state.resolve()}\n")


SERVER = f"https://{NET.node_ip}:{NET.apiserver_port}"


# ---- network -----------------------------------------------------------------

def _bridge_up() -> None:
    if _run(["ip", "link", "show", NET.bridge], check=False).returncode != 0:
        _run(["ip", "link", "add", NET.bridge, "type", "bridge"])
    addrs = _run(["ip", "-4", "-o", "addr", "show", "dev", NET.bridge]).stdout
    if f"{NET.node_ip}/" not in addrs:
        _run(["ip", "addr", "add", f"{NET.node_ip}/{NET.prefix}", "dev", NET.bridge])
    _run(["ip", "link", "set", NET.bridge, "up"])


def _network_up(lay: Layout) -> None:
    saved = lay.state / "sysctl.saved.json"
    keys = ["net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"]
    if not saved.exists():
        saved.write_text(json.dumps({k: _sysctl(k) for k in keys}))
    for k in keys:
        _sysctl(k, "1")
    _bridge_up()
    # Service IPs from the host go to the bridge, never to the default route, even
    # before kube-proxy has written its DNAT rules.
    _run(["ip", "route", "replace", NET.service_cidr, "dev", NET.bridge, "src", NET.node_ip])
    conflist = {
        "cniVersion": "1.0.0", "name": "localkube",
        "plugins": [{
            "type": "bridge", "bridge": NET.bridge, "isGateway": True,
            "isDefaultGateway": False, "ipMasq": False, "hairpinMode": True,
            "ipam": {"type": "host-local", "dataDir": str(lay.cni_ipam),
                     "ranges": [[{"subnet": NET.pod_cidr, "gateway": NET.node_ip,
                                  "rangeStart": "10.77.1.1", "rangeEnd": "10.77.255.254"}]],
                     # only the service range goes via the node; no default route
                     "routes": [{"dst": NET.service_cidr, "gw": NET.node_ip}]},
        }],
    }
    _write(lay.cni_conf / "10-localkube.conflist", json.dumps(conflist, indent=2) + "\n")


# ---- configuration files -----------------------------------------------------

def _containerd_config(lay: Layout) -> Path:
    c = lay.containerd
    text = f"""version = 2
root = "{c}/root"
state = "{c}/state"
oom_score = 0

[grpc]
  address = "{lay.containerd_sock}"
[ttrpc]
  address = "{c}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{images.PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{shutil.which('runc') or '/usr/bin/runc'}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{lay.cni_conf}"
    max_conf_num = 1
[plugins."io.containerd.internal.v1.opt"]
  path = "{c}/opt"
"""
    path = lay.conf / "containerd.toml"
    _write(path, text)
    return path


def _kubelet_config(lay: Layout) -> Path:
    resolv = lay.conf / "pod-resolv.conf"
    _write(resolv, "# upstream resolvers for pods: none (cluster DNS only)\n")
    cfg = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "containerRuntimeEndpoint": f"unix://{lay.containerd_sock}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "oomScoreAdj": 0,
        "address": NET.node_ip, "port": 10250, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
        "tlsCertFile": str(lay.pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(lay.pki / "kubelet-serving.key"),
        "authentication": {"anonymous": {"enabled": False},
                           "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(lay.pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [NET.dns_service_ip], "clusterDomain": NET.cluster_domain,
        "resolvConf": str(resolv),
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "rotateCertificates": False, "serverTLSBootstrap": False,
        "registerNode": True,
        "maxPods": 110,
        "podPidsLimit": -1,
        "nodeStatusUpdateFrequency": "5s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "containerLogMaxSize": "10Mi",
        "volumeStatsAggPeriod": "1m",
    }
    path = lay.conf / "kubelet.yaml"
    _write(path, yaml.safe_dump(cfg, sort_keys=False))
    return path


def _kube_proxy_config(lay: Layout) -> Path:
    cfg = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(lay.kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "bindAddress": NET.node_ip,
        "clusterCIDR": NET.pod_cidr,
        "healthzBindAddress": "127.0.0.1:10356",
        "metricsBindAddress": "127.0.0.1:10349",
        "oomScoreAdj": 0,
        "nodePortAddresses": [f"{NET.node_ip}/32"],
        "conntrack": {"maxPerCore": 0, "min": 0,
                      "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"masqueradeAll": False, "syncPeriod": "30s", "minSyncPeriod": "1s",
                     "localhostNodePorts": False},
    }
    path = lay.conf / "kube-proxy.yaml"
    _write(path, yaml.safe_dump(cfg, sort_keys=False))
    return path


def _corefile(lay: Layout) -> Path:
    text = f""".:53 {{
    bind {NET.node_ip}
    errors
    ready 127.0.0.1:18181
    kubernetes {NET.cluster_domain} in-addr.arpa ip6.arpa {{
        kubeconfig {lay.kubeconfig('coredns')} localkube
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""
    path = lay.conf / "Corefile"
    _write(path, text)
    return path


ADDONS = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "localkube:coredns"}}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "localkube:coredns"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "localkube:coredns"}}
subjects: [{{kind: User, name: "localkube:coredns", apiGroup: rbac.authorization.k8s.io}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "localkube:provisioner"}}
rules:
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, list, watch, create, delete]
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "localkube:provisioner"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "localkube:provisioner"}}
subjects: [{{kind: User, name: "localkube:provisioner", apiGroup: rbac.authorization.k8s.io}}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {{storageclass.kubernetes.io/is-default-class: "true"}}
provisioner: localkube.local/hostpath
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {{k8s-app: kube-dns, kubernetes.io/name: CoreDNS}}
spec:
  clusterIP: {NET.dns_service_ip}
  ports:
  - {{name: dns, port: 53, protocol: UDP, targetPort: 53}}
  - {{name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: localkube
addressType: IPv4
ports:
- {{name: dns, port: 53, protocol: UDP}}
- {{name: dns-tcp, port: 53, protocol: TCP}}
endpoints:
- addresses: ["{NET.node_ip}"]
  conditions: {{ready: true}}
  nodeName: {NODE_NAME}
"""


# ---- waiting -----------------------------------------------------------------

def _wait(what: str, check, timeout: float, lay: Layout, watch: list[str]) -> None:
    """Poll CHECK until true; fail early (with its log) if a watched component dies."""
    deadline = time.monotonic() + timeout
    last_err = ""
    while time.monotonic() < deadline:
        for name in watch:
            if not lay.procs.pid(name):
                raise ClusterError(f"{name} exited while waiting for {what}; "
                                   f"last lines of {lay.procs.log_file(name)}:\n"
                                   f"{lay.procs.tail(name)}")
        try:
            if check():
                return
        except Exception as e:        # noqa: BLE001 - reported on timeout
            last_err = str(e)
        time.sleep(0.5)
    blame = watch[-1] if watch else ""
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}"
                       + (f" ({last_err})" if last_err else "")
                       + (f"; last lines of {lay.procs.log_file(blame)}:\n{lay.procs.tail(blame)}"
                          if blame else ""))


def _http_ok(url: str) -> bool:
    import urllib.request
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status == 200


def dns_query(name: str, server: str = NET.dns_service_ip, timeout: float = 2.0) -> list[str]:
    """A records for NAME from SERVER (plain UDP, stdlib)."""
    qid = os.getpid() & 0xFFFF
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (server, 53))
        resp, _ = s.recvfrom(4096)
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", resp[:12])
    if flags & 0xF:
        raise ClusterError(f"DNS rcode {flags & 0xF} for {name}")
    pos = 12
    for _ in range(qd):
        while resp[pos]:
            pos += resp[pos] + 1
        pos += 5
    out = []
    for _ in range(an):
        if resp[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while resp[pos]:
                pos += resp[pos] + 1
            pos += 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", resp[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(resp[pos:pos + 4]))
        pos += rdlen
    return out


def _node_ready(api: Api, since: float | None = None) -> bool:
    """Node Ready, and (with SINCE, a Unix time) reported by a kubelet heartbeat after
    SINCE, so a Ready status left in etcd by a previous run does not count."""
    node = api.get(f"/api/v1/nodes/{NODE_NAME}")
    for c in node.get("status", {}).get("conditions", []):
        if c["type"] == "Ready" and c["status"] == "True":
            if since is None:
                return True
            beat = calendar.timegm(time.strptime(c["lastHeartbeatTime"], "%Y-%m-%dT%H:%M:%SZ"))
            return beat >= since - 1
    return False


# ---- up ------------------------------------------------------------------------

def kubectl(*args: str, state: Path | str | None = None, check: bool = True,
            input: str | None = None) -> str:
    lay = Layout(state_dir(state))
    bins = build.binaries()
    proc = subprocess.run([str(bins["kubectl"]), "--kubeconfig", str(lay.admin_kubeconfig), *args],
                          text=True, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and proc.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


@contextlib.contextmanager
def _host_lock():
    """Serialise up/down across processes (e.g. pytest-xdist workers)."""
    OWNER_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(OWNER_FILE.parent / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def up(state: Path | str | None = None, build_missing: bool = True,
       timeout: float = 180.0) -> Path:
    """Start (or keep) the cluster; return the admin kubeconfig path when the node is
    Ready and cluster DNS answers through the kube-dns Service IP. Safe to call again
    while it runs (then it only checks); raises ClusterError with the failing
    component's log tail."""
    check_host()
    with _host_lock():
        return _up(state, build_missing, timeout)


def _up(state, build_missing: bool, timeout: float) -> Path:
    t_start = time.monotonic()
    lay = Layout(state_dir(state))
    lay.state.mkdir(parents=True, exist_ok=True)
    _claim_host(lay)
    bins = build.binaries() if not build_missing else None
    if bins is None:
        build.build_all()
        bins = build.binaries()
    pause_ref, pause_archive = images.pause_archive()
    procs = lay.procs

    _network_up(lay)
    pki.ensure(lay.pki)
    for client in pki.CLIENTS:
        _write(lay.kubeconfig(client), pki.kubeconfig(lay.pki, client, SERVER), 0o600)
    _write(lay.admin_kubeconfig, pki.kubeconfig(lay.pki, "admin", SERVER, embed=True), 0o600)
    t_ready = time.monotonic()

    # etcd
    lay.etcd_data.mkdir(parents=True, exist_ok=True)
    lay.etcd_data.chmod(0o700)
    etcd_url = f"http://127.0.0.1:{NET.etcd_client_port}"
    procs.start("etcd", [str(bins["etcd"]), "--name", "localkube",
                         "--data-dir", str(lay.etcd_data / "data"),
                         "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
                         "--listen-peer-urls", f"http://127.0.0.1:{NET.etcd_peer_port}",
                         "--initial-advertise-peer-urls", f"http://127.0.0.1:{NET.etcd_peer_port}",
                         "--initial-cluster", f"localkube=http://127.0.0.1:{NET.etcd_peer_port}",
                         "--listen-metrics-urls", "", "--log-level", "warn",
                         "--quota-backend-bytes", str(2 << 30)])
    _wait("etcd health", lambda: _http_ok(f"{etcd_url}/health"), 30, lay, ["etcd"])

    # kube-apiserver
    p = lay.pki
    procs.start("kube-apiserver", [
        str(bins["kube-apiserver"]),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={NET.node_ip}", f"--advertise-address={NET.node_ip}",
        f"--secure-port={NET.apiserver_port}",
        f"--tls-cert-file={p}/apiserver.crt", f"--tls-private-key-file={p}/apiserver.key",
        f"--client-ca-file={p}/ca.crt",
        f"--service-cluster-ip-range={NET.service_cidr}",
        f"--service-account-issuer=https://kubernetes.default.svc.{NET.cluster_domain}",
        f"--service-account-key-file={p}/sa.pub",
        f"--service-account-signing-key-file={p}/sa.key",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--kubelet-client-certificate={p}/apiserver-kubelet-client.crt",
        f"--kubelet-client-key={p}/apiserver-kubelet-client.key",
        f"--kubelet-certificate-authority={p}/ca.crt",
        "--kubelet-preferred-address-types=InternalIP",
        "--allow-privileged=true", "--profiling=false", "--v=1",
    ])
    admin = Api(SERVER, lay.pki, "admin", timeout=5)
    _wait("kube-apiserver /readyz", lambda: admin.get("/readyz") == "ok", 90, lay,
          ["etcd", "kube-apiserver"])

    # containerd + sandbox image
    for d in ("root", "state", "opt"):
        (lay.containerd / d).mkdir(parents=True, exist_ok=True)
    procs.start("containerd", [shutil.which("containerd"), "--config", str(_containerd_config(lay))])
    ctr = ["ctr", "--address", str(lay.containerd_sock)]
    _wait("containerd", lambda: _run(ctr + ["version"], check=False).returncode == 0, 30, lay,
          ["containerd"])
    have = _run(ctr + ["-n", "k8s.io", "images", "ls", "-q"]).stdout.split()
    if pause_ref not in have:
        images.ctr_import(pause_archive, lay.containerd_sock)
        _run(ctr + ["-n", "k8s.io", "images", "label", pause_ref, "io.cri-containerd.pinned=pinned"],
             check=False)

    # controllers
    kc = lay.kubeconfig
    procs.start("kube-controller-manager", [
        str(bins["kube-controller-manager"]),
        f"--kubeconfig={kc('controller-manager')}",
        f"--authentication-kubeconfig={kc('controller-manager')}",
        f"--authorization-kubeconfig={kc('controller-manager')}",
        "--bind-address=127.0.0.1", "--secure-port=10357",
        f"--service-account-private-key-file={p}/sa.key", f"--root-ca-file={p}/ca.crt",
        f"--cluster-signing-cert-file={p}/ca.crt", f"--cluster-signing-key-file={p}/ca.key",
        "--use-service-account-credentials=true", "--leader-elect=false",
        f"--service-cluster-ip-range={NET.service_cidr}",
        "--v=1",
    ])
    procs.start("kube-scheduler", [
        str(bins["kube-scheduler"]),
        f"--kubeconfig={kc('scheduler')}",
        f"--authentication-kubeconfig={kc('scheduler')}",
        f"--authorization-kubeconfig={kc('scheduler')}",
        "--bind-address=127.0.0.1", "--secure-port=10359", "--leader-elect=false", "--v=1",
    ])

    # node
    lay.kubelet_root.mkdir(parents=True, exist_ok=True)
    kubelet_since = None if procs.pid("kubelet") else time.time()
    procs.start("kubelet", [
        str(bins["kubelet"]), f"--config={_kubelet_config(lay)}",
        f"--kubeconfig={kc('kubelet')}", f"--root-dir={lay.kubelet_root}",
        f"--hostname-override={NODE_NAME}", f"--node-ip={NET.node_ip}", "--v=1",
    ])
    procs.start("kube-proxy", [str(bins["kube-proxy"]), f"--config={_kube_proxy_config(lay)}",
                               "--v=1"])
    procs.start("coredns", [str(bins["coredns"]), "-conf", str(_corefile(lay))])
    procs.start("provisioner", [sys.executable, "-m", "localkube.provisioner", str(lay.state)],
                env=dict(os.environ, PYTHONPATH=str(config.REPO_ROOT)))

    _apply_addons(lay, bins)
    watch = ["etcd", "kube-apiserver", "containerd", "kube-controller-manager",
             "kube-scheduler", "kube-proxy", "coredns", "provisioner", "kubelet"]
    _wait("node Ready", lambda: _node_ready(admin, kubelet_since), timeout, lay, watch)
    t_node = time.monotonic()
    want = NET.apiserver_service_ip
    _wait("cluster DNS (kubernetes.default via the kube-dns Service IP)",
          lambda: want in dns_query(f"kubernetes.default.svc.{NET.cluster_domain}"),
          60, lay, watch[:-1] + ["coredns"])
    log(f"cluster up in {time.monotonic() - t_start:.1f}s "
        f"(node Ready {t_node - t_ready:.1f}s after start of control plane); "
        f"KUBECONFIG={lay.admin_kubeconfig}")
    return lay.admin_kubeconfig


def _apply_addons(lay: Layout, bins: dict) -> None:
    path = lay.conf / "addons.yaml"
    _write(path, ADDONS)

    def apply() -> bool:
        proc = _run([str(bins["kubectl"]), "--kubeconfig", str(lay.admin_kubeconfig),
                     "apply", "--server-side", "--force-conflicts", "-f", str(path)], check=False)
        if proc.returncode != 0:
            raise ClusterError(proc.stdout.strip())
        return True

    # the kube-system namespace appears shortly after the apiserver is ready
    _wait("addons applied", apply, 60, lay, ["kube-apiserver"])


def load_image(name: str, state: Path | str | None = None, force: bool = False) -> str:
    """Build test image NAME (see images.RECIPES) and import it into the running
    cluster's containerd; returns the image reference (use imagePullPolicy: Never)."""
    lay = Layout(state_dir(state))
    if not lay.procs.pid("containerd"):
        raise ClusterError("the cluster is not running: call up() first")
    return images.image(name, lay.containerd_sock, force=force)


def env(state: Path | str | None = None) -> dict[str, str]:
    """KUBECONFIG and a PATH with kubectl (and crictl, etcdctl) for subprocesses."""
    bins = build.binaries()
    dirs = [str(bins[n].parent) for n in ("kubectl", "crictl", "etcdctl")]
    return {"KUBECONFIG": str(Layout(state_dir(state)).admin_kubeconfig),
            "PATH": os.pathsep.join(dirs + [os.environ.get("PATH", "")])}


# ---- down --------------------------------------------------------------------

def _crictl_all(lay: Layout) -> None:
    """Stop and remove every pod sandbox via the CRI, so CNI tears down its netns/veths."""
    crictl = build.crictl_path()
    conf = lay.conf / "containerd.toml"
    if not crictl or not conf.exists():
        return
    if not lay.procs.pid("containerd"):
        # e.g. after a hard kill: start containerd again so CNI can tear pods down
        lay.procs.start("containerd", [shutil.which("containerd"), "--config", str(conf)])
        ctr = ["ctr", "--address", str(lay.containerd_sock), "version"]
        deadline = time.monotonic() + 20
        while _run(ctr, check=False).returncode != 0:
            if time.monotonic() > deadline or not lay.procs.pid("containerd"):
                return
            time.sleep(0.2)
    base = [str(crictl), "--runtime-endpoint", f"unix://{lay.containerd_sock}", "--timeout", "30s"]
    pods = _run(base + ["pods", "-q"], check=False).stdout.split()
    for pod in pods:
        _run(base + ["stopp", pod], check=False)
        _run(base + ["rmp", "-f", pod], check=False)


def _unmount_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mp = line.split()[1].encode().decode("unicode_escape")
        if mp.startswith(prefix):
            points.append(mp)
    for mp in sorted(points, key=len, reverse=True):
        if _run(["umount", mp], check=False).returncode != 0:
            _run(["umount", "-l", mp], check=False)
    return points


def _iptables_cleanup(bins: dict | None) -> None:
    if bins and os.access(bins.get("kube-proxy", ""), os.X_OK):
        _run([str(bins["kube-proxy"]), "--cleanup", "--v=0"], check=False)
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(tool):
            continue
        dump = _run([f"{tool}-save"], check=False).stdout
        table = None
        chains: dict[str, list[str]] = {}
        jumps: list[tuple[str, str]] = []
        for line in dump.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":KUBE-"):
                chains.setdefault(table, []).append(line[1:].split()[0])
            elif line.startswith("-A ") and re.search(r"-j KUBE-", line) and \
                    not line.split()[1].startswith("KUBE-"):
                jumps.append((table, line[3:]))
        for table, rule in jumps:
            _run([tool, "-t", table, "-D", *_split_rule(rule)], check=False)
        for table, names in chains.items():
            for name in names:
                _run([tool, "-t", table, "-F", name], check=False)
            for name in names:
                _run([tool, "-t", table, "-X", name], check=False)


def _split_rule(rule: str) -> list[str]:
    import shlex
    return shlex.split(rule)


def _cgroup_cleanup() -> None:
    base = Path("/sys/fs/cgroup")
    for hier in base.iterdir() if base.is_dir() else []:
        top = hier / "kubepods"
        if not top.is_dir():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                        reverse=True) + [top]:
            try:
                d.rmdir()
            except OSError:
                pass


def down(state: Path | str | None = None, purge: bool = False) -> None:
    """Stop every component (by PID file), remove pods, mounts, bridge, iptables rules.
    With PURGE, also delete the state directory (etcd data, volumes, images)."""
    with _host_lock():
        _down(state, purge)


def _down(state, purge: bool) -> None:
    lay = Layout(state_dir(state))
    procs = lay.procs
    try:
        bins = build.binaries()
    except RuntimeError:
        bins = None
    for name in ("provisioner", "coredns", "kube-proxy", "kubelet", "kube-scheduler",
                 "kube-controller-manager"):
        procs.stop(name)
    _crictl_all(lay)
    procs.stop("containerd", timeout=20)
    _kill_our_shims(lay)
    procs.stop("kube-apiserver")
    procs.stop("etcd")
    if lay.state.exists():
        _unmount_under(lay.state)
    owner = _owner()
    if owner is not None and lay.state.exists() and owner != lay.state.resolve():
        log(f"host network left alone: it belongs to the cluster in {owner}")
    else:
        _iptables_cleanup(bins)
        if _run(["ip", "link", "show", NET.bridge], check=False).returncode == 0:
            _run(["ip", "link", "del", NET.bridge], check=False)
        _cgroup_cleanup()
        OWNER_FILE.unlink(missing_ok=True)
        saved = lay.state / "sysctl.saved.json"
        if saved.exists():
            for k, v in json.loads(saved.read_text()).items():
                try:
                    _sysctl(k, v)
                except OSError:
                    pass
            saved.unlink()
    if purge and lay.state.exists():
        shutil.rmtree(lay.state)
    log("cluster down" + (" and state purged" if purge else ""))


def _kill_our_shims(lay: Layout) -> None:
    """containerd shims left behind (e.g. without crictl) that belong to our socket."""
    needle = str(lay.containerd_sock).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"containerd-shim" in cmd.split(b"\0")[0] and needle in cmd:
            try:
                os.kill(int(proc.name), 9)
            except OSError:
                pass


# ---- status ------------------------------------------------------------------

def status(state: Path | str | None = None) -> dict:
    lay = Layout(state_dir(state))
    out = {"state": str(lay.state), "kubeconfig": str(lay.admin_kubeconfig), "components": {}}
    for name in COMPONENTS:
        out["components"][name] = lay.procs.pid(name)
    try:
        out["node_ready"] = _node_ready(Api(SERVER, lay.pki, "admin", timeout=3))
    except Exception as e:   # noqa: BLE001
        out["node_ready"] = f"unknown ({e.__class__.__name__})"
    return out
