"""Preset definitions: presets/<name>/preset.yaml plus its templates, files and values."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from .errors import UnknownPresetError

_ROOTS = (
    Path(__file__).resolve().parent.parent / "presets",  # source checkout
    Path(__file__).resolve().parent / "_data" / "presets",  # installed wheel
)


def presets_root() -> Path:
    for root in _ROOTS:
        if root.is_dir():
            return root
    raise FileNotFoundError("presets/ directory not found next to the chartgen package")


class ChartMeta(BaseModel):
    version: str
    keywords: list[str] = []
    home: str = ""
    sources: list[str] = []
    license: str = "Apache-2.0"
    kube_version: str = Field(">=1.29.0-0", alias="kubeVersion")


class Preset(BaseModel):
    """What a preset declares; the chart's content lives beside it on disk."""

    name: str
    description: str
    clustering: str  # raft | sentinel | binlog | replicaset
    quorum: bool  # does a majority vote decide (odd member counts)?
    replicas_field: str = Field("replicaCount", alias="replicasField")
    chart: ChartMeta
    # suffixes the chart appends to its fullname; bound the length of a chart name
    object_suffixes: list[str] = Field(default_factory=list, alias="objectSuffixes")
    # suffix of the StatefulSet's name after the fullname (e.g. "-node"); "" when it is the fullname
    stateful_set_suffix: str = Field("", alias="statefulSetSuffix")
    images: list[str] = Field(default_factory=list)  # value paths of image blocks
    path: Path = Path()

    model_config = {"populate_by_name": True}

    @property
    def default_values_file(self) -> Path:
        return self.path / "values.yaml"

    @property
    def schema(self) -> dict[str, Any]:
        return json.loads((self.path / "values.schema.json").read_text())

    @property
    def default_replicas(self) -> int:
        values = yaml.safe_load(self.default_values_file.read_text())
        return int(values[self.replicas_field])

    def max_name_length(self) -> int:
        """Longest chart name whose derived object names fit Kubernetes' limits.

        A StatefulSet name must leave room for the 11-character controller-revision-hash
        suffix in a 63-character label (so <= 52, less its own suffix); other objects take
        a suffix each.
        """
        longest_suffix = max((len(s) for s in self.object_suffixes), default=0)
        return min(52 - len(self.stateful_set_suffix), 63 - longest_suffix)


@functools.cache
def load(name: str) -> Preset:
    root = presets_root()
    path = root / name / "preset.yaml"
    if name.startswith("_") or not path.is_file():
        valid = ", ".join(names()) or "(none)"
        raise UnknownPresetError(f"--preset {name!r}: unknown preset; choose one of: {valid}")
    data = yaml.safe_load(path.read_text())
    return Preset(**data, path=path.parent)


def names() -> list[str]:
    root = presets_root()
    return sorted(
        p.name for p in root.iterdir() if not p.name.startswith("_") and (p / "preset.yaml").is_file()
    )


def all_presets() -> list[Preset]:
    return [load(n) for n in names()]


def common_dir() -> Path:
    return presets_root() / "_common"
