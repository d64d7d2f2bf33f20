"""Certificates and keys for the cluster, made with the openssl CLI.

One CA signs everything: the apiserver's serving cert, one client cert per
component (identity = CN, groups = O), the kubelet's serving cert. Files are
made once and kept in ``STATE/pki``; re-running is a no-op.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from .config import NET, NODE_NAME

DAYS = "3650"

# name -> (CN, O or None)
CLIENTS = {
    "admin": ("localkube-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    "kube-proxy": ("system:kube-proxy", None),
    "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
    "coredns": ("localkube:coredns", None),
    "provisioner": ("localkube:provisioner", None),
}


def _ssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{proc.stdout}")


def _key(pki: Path, name: str) -> None:
    if not (pki / f"{name}.key").exists():
        _ssl("genrsa", "-out", f"{name}.key", "2048", cwd=pki)
        (pki / f"{name}.key").chmod(0o600)


def _signed(pki: Path, name: str, subject: str, ext: str) -> None:
    if (pki / f"{name}.crt").exists():
        return
    _key(pki, name)
    (pki / f"{name}.ext").write_text(ext)
    _ssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=pki)
    _ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", DAYS, "-sha256", "-extfile", f"{name}.ext",
         "-out", f"{name}.crt", cwd=pki)
    (pki / f"{name}.csr").unlink()
    (pki / f"{name}.ext").unlink()


def ensure(pki: Path) -> Path:
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    if not (pki / "ca.crt").exists():
        _key(pki, "ca")
        _ssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=localkube-ca",
             "-days", DAYS, "-sha256", "-out", "ca.crt", cwd=pki)
    sans = ",".join([
        "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc", f"DNS:kubernetes.default.svc.{NET.cluster_domain}",
        f"DNS:{NODE_NAME}", "IP:127.0.0.1", f"IP:{NET.node_ip}", f"IP:{NET.apiserver_service_ip}",
    ])
    server_ext = ("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                  f"extendedKeyUsage=serverAuth\nsubjectAltName={sans}\n")
    _signed(pki, "apiserver", "/CN=kube-apiserver", server_ext)
    _signed(pki, "kubelet-serving", f"/CN={NODE_NAME}", server_ext)
    client_ext = ("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                  "extendedKeyUsage=clientAuth\n")
    for name, (cn, org) in CLIENTS.items():
        subject = f"/CN={cn}" + (f"/O={org}" if org else "")
        _signed(pki, name, subject, client_ext)
    if not (pki / "sa.pub").exists():
        _key(pki, "sa")
        _ssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    return pki


def kubeconfig(pki: Path, client: str, server: str, embed: bool = False) -> str:
    """A kubeconfig (JSON, which is YAML) for one client; EMBED inlines the files
    so the kubeconfig can be copied anywhere (the admin one handed to tests)."""
    import base64
    import json

    def ref(key: str, path: Path) -> dict:
        if embed:
            return {f"{key}-data": base64.b64encode(path.read_bytes()).decode()}
        return {key: str(path)}

    return json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "localkube", "cluster": {
            "server": server, **ref("certificate-authority", pki / "ca.crt")}}],
        "users": [{"name": client, "user": {
            **ref("client-certificate", pki / f"{client}.crt"),
            **ref("client-key", pki / f"{client}.key")}}],
        "contexts": [{"name": "localkube", "context": {"cluster": "localkube", "user": client}}],
        "current-context": "localkube",
    }, indent=2) + "\n"
