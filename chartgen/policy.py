"""chartgen's own rules for rendered charts: labels, probes, resources, security, quorum."""

from __future__ import annotations

from typing import Any

from .topology import fault_tolerance

REQUIRED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
WORKLOADS = ("StatefulSet", "Deployment", "Job", "Pod")
QUORUM_ANNOTATION = "chartgen.io/quorum"


def _name(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Pod":
        return obj["spec"]
    return obj["spec"]["template"]["spec"]


def _labels(objects) -> list[str]:
    out = []
    for obj in objects:
        labels = obj.get("metadata", {}).get("labels") or {}
        missing = [key for key in REQUIRED_LABELS if key not in labels]
        if missing:
            out.append(f"{_name(obj)}: missing labels {', '.join(missing)}")
    return out


def _containers(obj):
    spec = _pod_spec(obj)
    for c in spec.get("initContainers", []) or []:
        yield "init", c
    for c in spec.get("containers", []) or []:
        yield "main", c


def _resources_and_security(obj) -> list[str]:
    out = []
    spec = _pod_spec(obj)
    pod_sc = spec.get("securityContext") or {}
    for _, c in _containers(obj):
        where = f"{_name(obj)} container {c['name']}"
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if "cpu" not in req or "memory" not in req:
            out.append(f"{where}: set resources.requests.cpu and .memory")
        if "memory" not in lim:
            out.append(f"{where}: set resources.limits.memory")
        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            out.append(f"{where}: runAsNonRoot must be true (pod or container securityContext)")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: securityContext.allowPrivilegeEscalation must be false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            out.append(f"{where}: securityContext.capabilities.drop must include ALL")
    return out


def _probes(obj) -> list[str]:
    if obj["kind"] not in ("StatefulSet", "Deployment"):
        return []
    main = _pod_spec(obj)["containers"][0]
    return [
        f"{_name(obj)} container {main['name']}: needs a {probe}"
        for probe in ("readinessProbe", "livenessProbe")
        if not main.get(probe)
    ]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    want = (selector or {}).get("matchLabels") or {}
    return bool(want) and all(labels.get(k) == v for k, v in want.items())


def _quorum(objects) -> list[str]:
    out = []
    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    for sts in (o for o in objects if o["kind"] == "StatefulSet"):
        name = _name(sts)
        headless = services.get(sts["spec"].get("serviceName"))
        if not headless or headless["spec"].get("clusterIP") != "None":
            out.append(f"{name}: serviceName must name a headless Service (clusterIP: None)")
        if (sts["metadata"].get("annotations") or {}).get(QUORUM_ANNOTATION) != "true":
            continue  # e.g. a component, whose user may publish only ready pods' names
        if headless and headless["spec"].get("publishNotReadyAddresses") is not True:
            # members must find each other before any of them is ready, or no majority forms
            out.append(f"{name}: headless Service must set publishNotReadyAddresses: true")
        replicas = sts["spec"].get("replicas", 1)
        if replicas % 2 == 0:
            out.append(f"{name}: {replicas} replicas; a quorum needs an odd member count")
        pod_labels = sts["spec"]["template"]["metadata"].get("labels") or {}
        mine = [p for p in pdbs if _selects(p["spec"].get("selector"), pod_labels)]
        if replicas > 1 and not mine:
            out.append(f"{name}: no PodDisruptionBudget protects the quorum")
        for pdb in mine:
            allowed = pdb["spec"].get("maxUnavailable")
            if allowed is None and "minAvailable" in pdb["spec"]:
                allowed = replicas - int(pdb["spec"]["minAvailable"])
            if not isinstance(allowed, int) or allowed > fault_tolerance(replicas):
                out.append(
                    f"{_name(pdb)}: allows {allowed} unavailable of {replicas}; "
                    f"quorum survives at most {fault_tolerance(replicas)}"
                )
    return out


def _pod_labels(obj) -> dict[str, str]:
    if obj["kind"] == "Pod":
        return obj["metadata"].get("labels") or {}
    return obj["spec"]["template"]["metadata"].get("labels") or {}


def _selectors_stay_on_members(objects) -> list[str]:
    """Services and PDBs must not pick up hook Jobs' or test pods' pods."""
    out = []
    helpers = [o for o in objects if o["kind"] in ("Job", "Pod")]
    for obj in objects:
        if obj["kind"] == "Service":
            selector = {"matchLabels": obj["spec"].get("selector") or {}}
        elif obj["kind"] == "PodDisruptionBudget":
            selector = obj["spec"].get("selector")
        else:
            continue
        for helper in helpers:
            if _selects(selector, _pod_labels(helper)):
                out.append(f"{_name(obj)}: selector also matches the pods of {_name(helper)}")
    return out


def problems(objects: list[dict[str, Any]]) -> list[str]:
    workloads = [o for o in objects if o["kind"] in WORKLOADS]
    out = _labels(objects)
    for obj in workloads:
        out += _resources_and_security(obj) + _probes(obj)
    return out + _quorum(objects) + _selectors_stay_on_members(objects)
