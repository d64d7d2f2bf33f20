"""Preset declarations: presets/<name>/preset.yaml, the data that says what a preset is.

A preset declares its released chart version, the pins of its default images, its flavors,
the deployment types it allows (and the defaults each type sets), and its workloads (one
StatefulSet, several, a Deployment, or a workload whose kind follows the chart's `type`
value), each with its component name, its ports and how a majority decides. Its chart
content (templates, files, values and schema fragments) lives beside it on disk and is
merged with the preset library (presets/_library) at generation time (see library.py).

Plain dataclasses and PyYAML only: `chartgen presets` must start fast.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidValueError, UnknownPresetError

_ROOTS = (
    Path(__file__).resolve().parent.parent / "presets",  # source checkout
    Path(__file__).resolve().parent / "_data" / "presets",  # installed wheel
)
LIBRARY = "_library"
TYPES = ("stateful-multi", "stateful-single", "stateless-multi", "stateless-single")
QUORUM_RULES = ("majority", "none")
KINDS = ("StatefulSet", "Deployment", "fromType")  # fromType: StatefulSet for stateful-*, else Deployment


def kind_of(kind: str, chart_type: str) -> str:
    """A declared workload kind, resolved for the chart type (fromType follows the type)."""
    if kind != "fromType":
        return kind
    return "StatefulSet" if chart_type.startswith("stateful-") else "Deployment"


def is_single(chart_type: str) -> bool:
    return chart_type.endswith("-single")


def presets_root() -> Path:
    for root in _ROOTS:
        if root.is_dir():
            return root
    raise FileNotFoundError("presets/ directory not found next to the chartgen package")


def library_dir() -> Path:
    return presets_root() / LIBRARY


@dataclass(frozen=True)
class Workload:
    """One workload of a preset's chart: a StatefulSet or a Deployment of one component."""

    component: str  # app.kubernetes.io/component of its pods
    kind: str = "StatefulSet"  # or Deployment, or fromType (the chart's `type` value decides)
    name_suffix: str = ""  # after the fullname ("-node" -> <fullname>-node-0)
    replicas_field: str = "replicaCount"  # values path of its replica count
    quorum: str = "none"  # majority: odd counts, PDB keeps (N-1)/2
    headless_suffix: str = "-headless"  # its headless Service (StatefulSets)
    ports: dict[str, str] = field(default_factory=dict)  # port name -> values path of the number
    peer_ports: tuple[str, ...] = ()  # ports members use among themselves (NetworkPolicy)
    client_ports: tuple[str, ...] = ()  # ports clients use (NetworkPolicy)
    pod_values: str = ""  # values path of its pod settings ("" = top level)
    enabled: str = ""  # values path of a boolean that turns it on ("" = always)
    declared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # as in preset.yaml
    # values path of a list of {name, port[, protocol]}: its ports come from the values, not
    # from `ports` (a component whose ports the user chooses); peers and clients use them all
    ports_from: str = ""
    # ports only the -multi types open (e.g. Sentinel's): left out of a -single chart's objects
    multi_ports: tuple[str, ...] = ()
    # values path of a boolean for the headless Service's publishNotReadyAddresses ("" = true)
    publish_not_ready: str = ""
    # its volumeClaimTemplate (StatefulSet types) and the values block of its volumes, whose
    # optional `enabled` turns them off: what a type switch must not orphan
    claim: str = "data"
    persistence: str = "persistence"

    def resolved_kind(self, chart_type: str) -> str:
        return kind_of(self.kind, chart_type)

    def describe(self, chart_type: str = "stateful-multi") -> dict[str, Any]:
        """What the generated chart records about this workload (Chart.yaml annotation)."""
        kind = self.resolved_kind(chart_type)
        return {"component": self.component, "kind": kind, "nameSuffix": self.name_suffix,
                "replicasField": self.replicas_field, "quorum": self.quorum,
                "headlessSuffix": self.headless_suffix if kind == "StatefulSet" else ""}


@dataclass(frozen=True)
class Flavor:
    name: str
    description: str
    images: dict[str, str]  # values path of an image block -> pin key in versions.env
    values: dict[str, Any] = field(default_factory=dict)  # defaults this flavor changes
    # what this flavor changes of the preset's workloads, by component: {component: {key: value}}
    # with preset.yaml's keys (e.g. a port only this flavor's pods open)
    workloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    # generation-time names the preset's .j2 files use for this flavor's server (`engine` in
    # their context: e.g. its product name and binaries, [[ engine.cli ]])
    engine: dict[str, str] = field(default_factory=dict)
    # what this flavor's chart says about itself where it differs from the preset's
    # (Chart.yaml: description, keywords, home, sources, license, kubeVersion)
    chart: dict[str, Any] = field(default_factory=dict)
    # the name charts/ publishes this flavor's chart under ("" = the rule in published_charts:
    # the preset's name for its first flavor, the flavor's name for the others)
    chart_name: str = ""
    # None = as the preset (preset.yaml: published)
    published: bool | None = None


@dataclass(frozen=True)
class ChartMeta:
    keywords: tuple[str, ...] = ()
    home: str = ""
    sources: tuple[str, ...] = ()
    license: str = "Apache-2.0"
    kube_version: str = ">=1.29.0-0"


@dataclass(frozen=True)
class Preset:
    """What a preset declares; its chart content lives beside it on disk."""

    name: str
    description: str
    version: str  # the released chart version: charts/<name> publishes exactly this
    path: Path
    workloads: tuple[Workload, ...]
    images: dict[str, str] = field(default_factory=dict)  # values path -> pin key
    flavors: tuple[Flavor, ...] = ()
    types: tuple[str, ...] = ("stateful-multi",)
    chart: ChartMeta = ChartMeta()
    # longest suffix the chart appends to its fullname in an object name; bounds chart names
    object_suffixes: tuple[str, ...] = ()
    rbac: str = ""  # values path of a boolean: its agents use the Kubernetes API (a Role)
    # values that turn a database preset into one instance (--type stateful-single)
    single_values: dict[str, Any] = field(default_factory=dict)
    # defaults each type sets in a chart generated with it (dotted paths; singleValues are
    # those of stateful-single)
    type_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    # values generate() needs from the user, with the flag that gives them (no default exists)
    required_values: dict[str, str] = field(default_factory=dict)
    # generate() arguments the contract tests, `make demo` and `make bench` use for it
    example: dict[str, Any] = field(default_factory=dict)
    # charts/ publishes its chart (a component chart is made for the user's image: none)
    published: bool = True

    @property
    def main(self) -> Workload:
        return self.workloads[0]

    @property
    def replicas_field(self) -> str:
        return self.main.replicas_field

    @property
    def quorum(self) -> bool:
        return self.main.quorum == "majority"

    @property
    def max_members_why(self) -> str:
        """Why a majority preset stops at topology.MAX_MEMBERS (preset.yaml: workloads[0].maxMembersWhy)."""
        return str(self.main.declared.get("maxMembersWhy", "a larger majority only slows every write and election"))

    @property
    def default_type(self) -> str:
        return self.types[0]

    def values_for_type(self, chart_type: str) -> dict[str, Any]:
        """The defaults a chart generated with CHART_TYPE gets (dotted values paths)."""
        out = dict(self.type_values.get(chart_type) or {})
        if chart_type == "stateful-single":
            out = {**self.single_values, **out}
        return out

    @property
    def stateless_allowed(self) -> bool:
        return any(t.startswith("stateless-") for t in self.types)

    def flavor(self, name: str | None) -> Flavor | None:
        if not self.flavors:
            if name:
                raise InvalidValueError(f"--flavor {name!r}: preset {self.name} has no flavors; leave --flavor out")
            return None
        if name is None:
            return self.flavors[0]
        for f in self.flavors:
            if f.name == name:
                return f
        valid = ", ".join(f.name for f in self.flavors)
        raise InvalidValueError(f"--flavor {name!r}: preset {self.name} has flavors {valid}; choose one of them")

    def for_flavor(self, flavor: Flavor | None) -> "Preset":
        """This preset as FLAVOR shapes it: its workloads with the flavor's changes laid over,
        and its chart's description and metadata where the flavor declares its own."""
        if flavor is None or not (flavor.workloads or flavor.chart):
            return self
        where = f"{self.path / 'preset.yaml'}: flavors.{flavor.name}.workloads"
        unknown = set(flavor.workloads) - {w.component for w in self.workloads}
        if unknown:
            raise ValueError(f"{where}: no workload of component(s) {sorted(unknown)}")
        workloads = tuple(
            _workload({**w.declared, **flavor.workloads[w.component]}, f"{where}.{w.component}")
            if w.component in flavor.workloads else w
            for w in self.workloads
        )
        meta = flavor.chart
        chart = ChartMeta(
            keywords=tuple(meta.get("keywords", self.chart.keywords)), home=meta.get("home", self.chart.home),
            sources=tuple(meta.get("sources", self.chart.sources)), license=meta.get("license", self.chart.license),
            kube_version=meta.get("kubeVersion", self.chart.kube_version),
        )
        return dataclasses.replace(self, workloads=workloads, chart=chart,
                                   description=meta.get("description", self.description))

    def max_name_length(self) -> int:
        """Longest chart name whose derived object names fit Kubernetes' limits.

        A StatefulSet name must leave room for the 11-character controller-revision-hash
        suffix in a 63-character label (so <= 52, less its own suffix); other objects take
        a suffix each. The contract tests render the chart at this length to prove it.
        """
        longest_suffix = max((len(s) for s in self.object_suffixes), default=0)
        sts = [len(w.name_suffix) for w in self.workloads if w.kind in ("StatefulSet", "fromType")]
        return min(52 - max(sts, default=0), 63 - longest_suffix)


def _workload(data: dict[str, Any], where: str) -> Workload:
    known = {"component", "kind", "nameSuffix", "replicasField", "quorum", "headlessSuffix", "ports",
             "peerPorts", "clientPorts", "podValues", "enabled", "portsFrom", "multiPorts",
             "publishNotReadyAddresses", "claim", "persistence", "maxMembersWhy"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: unknown workload keys {sorted(unknown)}")
    w = Workload(
        component=data["component"], kind=data.get("kind", "StatefulSet"),
        name_suffix=data.get("nameSuffix", ""), replicas_field=data.get("replicasField", "replicaCount"),
        quorum=data.get("quorum", "none"), headless_suffix=data.get("headlessSuffix", "-headless"),
        ports=dict(data.get("ports") or {}), peer_ports=tuple(data.get("peerPorts") or ()),
        client_ports=tuple(data.get("clientPorts") or ()), pod_values=data.get("podValues", ""),
        enabled=data.get("enabled", ""), declared=dict(data), ports_from=data.get("portsFrom", ""),
        multi_ports=tuple(data.get("multiPorts") or ()), publish_not_ready=data.get("publishNotReadyAddresses", ""),
        claim=data.get("claim", "data"), persistence=data.get("persistence", "persistence"),
    )
    if w.kind not in KINDS:
        raise ValueError(f"{where}: kind {w.kind!r} must be one of {KINDS}")
    if w.quorum not in QUORUM_RULES:
        raise ValueError(f"{where}: quorum {w.quorum!r} must be one of {QUORUM_RULES}")
    for port in w.peer_ports + w.client_ports + w.multi_ports:
        if port not in w.ports:
            raise ValueError(f"{where}: port {port!r} is not declared under ports")
    return w


FLAVOR_KEYS = {"description", "images", "values", "workloads", "engine", "chart", "chartName", "published"}
FLAVOR_CHART_KEYS = {"description", "keywords", "home", "sources", "license", "kubeVersion"}


def _flavor(name: str, data: dict[str, Any], where: str) -> Flavor:
    unknown = set(data) - FLAVOR_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown flavor keys {sorted(unknown)}")
    chart = dict(data.get("chart") or {})
    if set(chart) - FLAVOR_CHART_KEYS:
        raise ValueError(f"{where}.chart: unknown keys {sorted(set(chart) - FLAVOR_CHART_KEYS)}")
    published = data.get("published")
    return Flavor(
        name, data.get("description", ""), dict(data.get("images") or {}), dict(data.get("values") or {}),
        {w["component"]: {k: v for k, v in w.items() if k != "component"} for w in data.get("workloads") or ()},
        engine={str(k): str(v) for k, v in (data.get("engine") or {}).items()}, chart=chart,
        chart_name=str(data.get("chartName") or ""), published=None if published is None else bool(published),
    )


def parse(data: dict[str, Any], path: Path) -> Preset:
    """preset.yaml as data -> Preset; a malformed declaration names its file and key."""
    where = str(path / "preset.yaml")
    chart = data.get("chart") or {}
    flavors = tuple(_flavor(str(name), f or {}, f"{where}: flavors.{name}")
                    for name, f in (data.get("flavors") or {}).items())
    types = tuple(data.get("types") or ("stateful-multi",))
    bad = [t for t in types if t not in TYPES]
    if bad:
        raise ValueError(f"{where}: types {bad} are not among {TYPES}")
    type_values = {str(t): dict(v or {}) for t, v in (data.get("typeValues") or {}).items()}
    stray = [t for t in type_values if t not in types]
    if stray:
        raise ValueError(f"{where}: typeValues for {stray}, which are not among its types {list(types)}")
    return Preset(
        name=data["name"],
        description=data["description"],
        version=str(data["version"]),
        path=path,
        workloads=tuple(_workload(w, f"{where}: workloads[{i}]") for i, w in enumerate(data["workloads"])),
        images=dict(data.get("images") or {}),
        flavors=flavors,
        types=types,
        chart=ChartMeta(
            keywords=tuple(chart.get("keywords") or ()), home=chart.get("home", ""),
            sources=tuple(chart.get("sources") or ()), license=chart.get("license", "Apache-2.0"),
            kube_version=chart.get("kubeVersion", ">=1.29.0-0"),
        ),
        object_suffixes=tuple(data.get("objectSuffixes") or ()),
        rbac=data.get("rbac", ""),
        single_values=dict(data.get("singleValues") or {}),
        type_values=type_values,
        required_values=dict(data.get("requiredValues") or {}),
        example=dict(data.get("example") or {}),
        published=bool(data.get("published", True)),
    )


@functools.cache
def load(name: str) -> Preset:
    root = presets_root()
    path = root / str(name) / "preset.yaml"
    if not name or str(name).startswith("_") or "/" in str(name) or not path.is_file():
        valid = ", ".join(names()) or "(none)"
        raise UnknownPresetError(f"--preset {name!r}: unknown preset; choose one of: {valid}")
    return parse(yaml.safe_load(path.read_text()), path.parent)


def names() -> list[str]:
    root = presets_root()
    return sorted(
        p.name for p in root.iterdir() if not p.name.startswith("_") and (p / "preset.yaml").is_file()
    )


def all_presets() -> list[Preset]:
    return [load(n) for n in names()]


def published_names() -> list[str]:
    """The presets whose chart charts/ publishes (a component chart needs the user's image)."""
    return [p.name for p in all_presets() if p.published]


@dataclass(frozen=True)
class PublishedChart:
    """One chart of charts/: NAME, generated from PRESET with FLAVOR (None: a preset without
    flavors)."""

    name: str
    preset: str
    flavor: str | None = None

    def generate_args(self) -> dict[str, Any]:
        """chartgen.generate()'s arguments that make this chart (besides its output)."""
        return {"preset": self.preset, "name": self.name, "flavor": self.flavor}


def charts_of(spec: Preset) -> list[PublishedChart]:
    """The charts charts/ publishes of SPEC: one per flavor (preset.yaml: a flavor's
    `chartName`, else the preset's name for the first flavor and the flavor's name for the
    others; `published: false` leaves one out), or one of the preset itself."""
    if not spec.flavors:
        return [PublishedChart(spec.name, spec.name)] if spec.published else []
    out = []
    for i, flavor in enumerate(spec.flavors):
        published = spec.published if flavor.published is None else flavor.published
        if published:
            out.append(PublishedChart(flavor.chart_name or (spec.name if i == 0 else flavor.name), spec.name, flavor.name))
    return out


def published_charts() -> list[PublishedChart]:
    """Every chart charts/ publishes, by name: each published preset's, one per flavor."""
    charts = [c for spec in all_presets() for c in charts_of(spec)]
    seen: dict[str, PublishedChart] = {}
    for c in charts:
        if c.name in seen:
            other = seen[c.name]
            raise ValueError(f"chart name {c.name!r} is published twice: preset {other.preset} flavor {other.flavor} "
                             f"and preset {c.preset} flavor {c.flavor}; give one a flavor `chartName`")
        seen[c.name] = c
    return sorted(charts, key=lambda c: c.name)

