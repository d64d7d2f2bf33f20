"""A tiny Kubernetes API client (stdlib only): JSON over HTTPS with a client cert."""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class Api:
    def __init__(self, server: str, pki: Path, client: str, timeout: float = 10.0):
        self.server = server.rstrip("/")
        self.timeout = timeout
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / f"{client}.crt"), str(pki / f"{client}.key"))

    def request(self, method: str, path: str, body: dict | None = None,
                content_type: str = "application/json"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=self.timeout) as resp:
                raw = resp.read().decode()
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read().decode(errors="replace")) from None
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def get(self, path: str):
        return self.request("GET", path)

    def create(self, path: str, obj: dict):
        return self.request("POST", path, obj)

    def delete(self, path: str):
        return self.request("DELETE", path)
