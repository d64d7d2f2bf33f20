"""Charts that describe themselves: the generation inputs, recorded in Chart.yaml annotations.

`chartgen install`, `status` and `topology` read these from a chart directory, a packaged
chart or a release's chart metadata, so they work for every preset with no preset-specific
code and without the preset's source:

  chartgen.io/preset          the preset (etcd, redis, ...)
  chartgen.io/flavor          the flavor, where the preset has them
  chartgen.io/type            the deployment type it was generated with (its `type` default):
                              stateful-single | stateful-multi | stateless-single | stateless-multi
  chartgen.io/replicas-field  values path of the member count
  chartgen.io/quorum          "majority" (odd counts, PDB (N-1)/2) or "none"
  chartgen.io/workloads       YAML list: component, kind, nameSuffix, replicasField, quorum,
                              headlessSuffix of every StatefulSet or Deployment
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

PRESET = "chartgen.io/preset"
FLAVOR = "chartgen.io/flavor"
TYPE = "chartgen.io/type"
REPLICAS_FIELD = "chartgen.io/replicas-field"
QUORUM = "chartgen.io/quorum"
WORKLOADS = "chartgen.io/workloads"


def annotations(preset, flavor=None, chart_type: str | None = None) -> dict[str, str]:
    """The annotations generate() writes for PRESET (a presets.Preset), FLAVOR and CHART_TYPE."""
    chart_type = chart_type or preset.default_type
    out = {PRESET: preset.name}
    if flavor is not None:
        out[FLAVOR] = flavor.name
    out[TYPE] = chart_type
    out[REPLICAS_FIELD] = preset.replicas_field
    out[QUORUM] = preset.main.quorum
    out[WORKLOADS] = yaml.safe_dump([w.describe(chart_type) for w in preset.workloads], sort_keys=False)
    return out


@dataclass(frozen=True)
class WorkloadInfo:
    component: str
    kind: str
    name_suffix: str
    replicas_field: str
    quorum: str
    headless_suffix: str


@dataclass(frozen=True)
class Description:
    """What a generated chart says about itself (defaults for charts chartgen did not make)."""

    preset: str = ""
    flavor: str = ""
    type: str = "stateful-multi"  # charts from before types were recorded are stateful-multi
    replicas_field: str = "replicaCount"
    quorum: str = "none"
    workloads: tuple[WorkloadInfo, ...] = ()

    @property
    def majority(self) -> bool:
        return self.quorum == "majority"


def read(chart_annotations: dict[str, Any] | None) -> Description:
    """The Description recorded in a chart's annotations (from Chart.yaml or a release)."""
    ann = chart_annotations or {}
    workloads = tuple(
        WorkloadInfo(w.get("component", "member"), w.get("kind", "StatefulSet"), w.get("nameSuffix", ""),
                     w.get("replicasField", "replicaCount"), w.get("quorum", "none"), w.get("headlessSuffix", ""))
        for w in (yaml.safe_load(ann.get(WORKLOADS) or "[]") or [])
    )
    return Description(
        preset=ann.get(PRESET, ""),
        flavor=ann.get(FLAVOR, ""),
        type=ann.get(TYPE, "stateful-multi"),
        replicas_field=ann.get(REPLICAS_FIELD, "replicaCount"),
        quorum=ann.get(QUORUM, "none"),
        workloads=workloads,
    )
