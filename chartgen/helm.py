"""The one place that runs helm: pyhelm3's Command/Client, wrapped synchronously.

pyhelm3 has typed wrappers for template/install/upgrade/uninstall; verbs it lacks
(lint, package, push, test, repo index) go through its general ``Command.run``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Iterable

import yaml
from pyhelm3 import Client, Command
from pyhelm3 import errors as helm_errors

from .errors import HelmError
from .toolchain import helm_executable
from .versions import pin


def _first_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[:n]) if lines else "(no output)"


class Helm:
    """Synchronous facade over pyhelm3 for one kubeconfig (or none, for offline verbs)."""

    def __init__(self, kubeconfig: str | Path | None = None, timeout: str = "10m"):
        self.executable = helm_executable()
        self._command = Command(
            executable=self.executable,
            kubeconfig=Path(kubeconfig) if kubeconfig else None,
            default_timeout=timeout,
        )
        self._kubeconfig = kubeconfig
        self._timeout = timeout

    # -- plumbing -----------------------------------------------------------------
    def run(self, args: list[str], stdin: bytes | None = None) -> str:
        try:
            return asyncio.run(self._command.run(args, stdin)).decode()
        except helm_errors.Error as err:
            raise HelmError(f"helm {args[0]}: {_first_lines(err.stderr.decode())}") from err

    def client(self) -> Client:
        return Client(
            executable=self.executable,
            kubeconfig=Path(self._kubeconfig) if self._kubeconfig else None,
            default_timeout=self._timeout,
        )

    # -- offline verbs ------------------------------------------------------------
    def version(self) -> str:
        return self.run(["version", "--template", "{{.Version}}"]).strip()

    def lint(self, chart: Path, values: dict[str, Any] | None = None, strict: bool = True) -> str:
        args = ["lint", str(chart)]
        if strict:
            args.append("--strict")
        if values:
            args += ["--values", "-"]
        return self.run(args, json.dumps(values).encode() if values else None)

    def template(
        self,
        chart: Path,
        release: str = "release",
        namespace: str = "default",
        values: dict[str, Any] | None = None,
        is_upgrade: bool = False,
        show_only: str | None = None,
        kube_version: str | None = None,
    ) -> list[dict[str, Any]]:
        # render for the pinned Kubernetes version, not the one helm was built against
        args = ["template", release, str(chart), "--namespace", namespace, "--values", "-",
                "--kube-version", kube_version or pin("KUBERNETES_VERSION")]
        if is_upgrade:
            args.append("--is-upgrade")
        if show_only:
            args += ["--show-only", show_only]
        text = self.run(args, json.dumps(values or {}).encode())
        return [doc for doc in yaml.safe_load_all(text) if doc]

    def package(self, chart: Path, destination: Path) -> Path:
        out = self.run(["package", str(chart), "--destination", str(destination)])
        # "Successfully packaged chart and saved it to: /path/x-0.1.0.tgz"
        return Path(out.strip().rsplit(":", 1)[-1].strip())

    # -- cluster verbs ------------------------------------------------------------
    def install_or_upgrade(
        self,
        release: str,
        chart: Path,
        namespace: str,
        values: dict[str, Any] | None = None,
        wait: bool = True,
        timeout: str | None = None,
    ):
        async def go():
            client = self.client()
            loaded = await client.get_chart(chart)
            return await client.install_or_upgrade_release(
                release,
                loaded,
                values or {},
                namespace=namespace,
                create_namespace=True,
                wait=wait,
                timeout=timeout or self._timeout,
            )

        try:
            return asyncio.run(go())
        except helm_errors.Error as err:
            raise HelmError(f"helm upgrade --install {release}: {_first_lines(err.stderr.decode())}") from err

    def uninstall(self, release: str, namespace: str, wait: bool = True) -> None:
        async def go():
            client = self.client()
            await client._command.uninstall(release, namespace=namespace, wait=wait)

        try:
            asyncio.run(go())
        except helm_errors.Error as err:
            raise HelmError(f"helm uninstall {release}: {_first_lines(err.stderr.decode())}") from err

    def test(self, release: str, namespace: str, timeout: str = "5m", logs: bool = True) -> str:
        args = ["test", release, "--namespace", namespace, "--timeout", timeout]
        if logs:
            args.append("--logs")
        return self.run(args)


def documents(manifests: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m.get("kind") == kind]
