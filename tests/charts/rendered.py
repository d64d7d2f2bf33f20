"""Reading rendered charts in the chart tests: the objects helm template returns, as dicts."""

from __future__ import annotations

from typing import Any


def first(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The first object of KIND (named NAME); fails the test when there is none."""
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''}"
    return found[0]


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The pod template spec of the (first) StatefulSet."""
    return first(objects, "StatefulSet")["spec"]["template"]["spec"]


def containers(objects: list[dict[str, Any]], init: bool = False) -> dict[str, dict[str, Any]]:
    """The StatefulSet's containers by name (its init containers first, with INIT)."""
    pod = pod_spec(objects)
    return {c["name"]: c for c in (pod.get("initContainers", []) if init else []) + pod["containers"]}


def env(container: dict[str, Any]) -> dict[str, Any]:
    """A container's environment: name -> value, or its valueFrom."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container.get("volumeMounts", [])}
