"""The one place that runs helm: pyhelm3's Command/Client, wrapped synchronously.

pyhelm3 has typed wrappers for template/install/upgrade/uninstall; verbs it lacks
(lint, package, push, test, repo index) go through its general ``Command.run``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import semver
import yaml
from pyhelm3 import Client, Command
from pyhelm3 import errors as helm_errors

from .errors import ClusterUnreachableError, HelmError, RegistryError, UnknownReleaseError
from .toolchain import helm_executable
from .versions import pin


# pyhelm3 logs each failed command as a warning; the typed error already says it in one line
logging.getLogger("pyhelm3").addHandler(logging.NullHandler())


def _first_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[:n]) if lines else "(no output)"


_UNREACHABLE = re.compile(r"(dial tcp \S+: )?(connect: connection refused|no such host|i/o timeout|"
                          r"connect: network is unreachable|connect: no route to host|tls: .*)", re.I)


def _cluster_error(err: helm_errors.Error, verb: str, release: str, namespace: str,
                   kubeconfig: str | Path | None) -> Exception:
    """helm's failure on a cluster verb, as the typed error that says what to do."""
    text = err.stderr.decode()
    if isinstance(err, helm_errors.ReleaseNotFoundError) or "release: not found" in text:
        return UnknownReleaseError(
            f"release {release!r}: not found in namespace {namespace!r}; check the name and "
            "--namespace (`helm list --all-namespaces` lists every release)"
        )
    found = _UNREACHABLE.search(text)
    if found and ("cluster unreachable" in text.lower() or found.group(1)):
        where = str(kubeconfig) if kubeconfig else "$KUBECONFIG (or ~/.kube/config)"
        return ClusterUnreachableError(
            f"--kubeconfig {where}: Kubernetes API unreachable ({found.group(0).strip()}); "
            "start the cluster or pass the kubeconfig of a running one"
        )
    return HelmError(f"helm {verb} {release}: {_first_lines(text)}")


def _registry_error(err: helm_errors.Error, verb: str, remote: str) -> RegistryError:
    text = err.stderr.decode()
    if "server gave HTTP response to HTTPS client" in text:
        return RegistryError(f"--oci {remote}: the registry speaks plain HTTP, not HTTPS; pass --plain-http")
    found = _UNREACHABLE.search(text)
    if found:
        return RegistryError(
            f"--oci {remote}: registry unreachable ({found.group(0).strip()}); "
            "start it or check HOST:PORT"
        )
    if re.search(r"unauthorized|authentication required|denied", text, re.I):
        return RegistryError(f"--oci {remote}: the registry refused access; log in with `helm registry login HOST`")
    return RegistryError(f"--oci {remote}: helm {verb}: {_first_lines(text)}")


class _Command(Command):
    """pyhelm3's Command, tolerant of a helm that reports "v4.3" (a `go install` without the
    release ldflags): pyhelm3's Client parses that version and would refuse to start."""

    def client_version(self) -> semver.Version:
        proc = subprocess.run([self._executable, "version", "--template", "{{ .Version }}"],
                              capture_output=True, text=True, check=True)
        text = proc.stdout.strip()
        return semver.Version.parse(text.removeprefix("v"), optional_minor_and_patch=True)


class Helm:
    """Synchronous facade over pyhelm3 for one kubeconfig (or none, for offline verbs)."""

    def __init__(self, kubeconfig: str | Path | None = None, timeout: str = "10m"):
        self.executable = helm_executable()
        self._command = _Command(
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
        return Client(self._command, executable=self.executable)

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
    ) -> list[dict[str, Any]]:
        # render for the pinned Kubernetes version, not the one helm was built against
        args = ["template", release, str(chart), "--namespace", namespace, "--values", "-",
                "--kube-version", pin("KUBERNETES_VERSION")]
        if is_upgrade:
            args.append("--is-upgrade")
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
            raise _cluster_error(err, "upgrade --install", release, namespace, self._kubeconfig) from err

    def uninstall(self, release: str, namespace: str, wait: bool = True) -> None:
        async def go():
            await self._command.uninstall(release, namespace=namespace, wait=wait)

        try:
            asyncio.run(go())
        except helm_errors.Error as err:
            raise _cluster_error(err, "uninstall", release, namespace, self._kubeconfig) from err

    def status(self, release: str, namespace: str):
        """The release's current revision (pyhelm3 ReleaseRevision: status, chart, manifest)."""
        async def go():
            revision = await self.client().get_current_revision(release, namespace=namespace)
            return revision, await revision.resources(), await revision.chart_metadata()

        try:
            return asyncio.run(go())
        except helm_errors.Error as err:
            raise _cluster_error(err, "status", release, namespace, self._kubeconfig) from err

    def test(self, release: str, namespace: str, timeout: str = "5m", logs: bool = True) -> str:
        args = ["test", release, "--namespace", namespace, "--timeout", timeout]
        if logs:
            args.append("--logs")
        return self.run(args)


    # -- OCI registries -------------------------------------------------------------
    def push(self, archive: Path, remote: str, plain_http: bool = False) -> str:
        """helm push ARCHIVE oci://HOST/PATH; returns the manifest digest helm reports."""
        args = ["push", str(archive), remote] + (["--plain-http"] if plain_http else [])
        try:
            out = asyncio.run(self._command.run(args)).decode()
        except helm_errors.Error as err:
            raise _registry_error(err, "push", remote) from err
        found = re.search(r"Digest:\s*(\S+)", out)
        return found.group(1) if found else ""

    def pull(self, ref: str, version: str, destination: Path, plain_http: bool = False) -> Path | None:
        """helm pull oci://HOST/PATH/NAME --version V into DESTINATION; None when not there."""
        destination.mkdir(parents=True, exist_ok=True)
        args = ["pull", ref, "--version", version, "--destination", str(destination)]
        args += ["--plain-http"] if plain_http else []
        try:
            asyncio.run(self._command.run(args))
        except helm_errors.Error as err:
            if re.search(r": not found\s*$", err.stderr.decode().strip()):
                return None
            raise _registry_error(err, "pull", ref.rsplit("/", 1)[0]) from err
        return next(iter(sorted(destination.glob("*.tgz"))), None)
