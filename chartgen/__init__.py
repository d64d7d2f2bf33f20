"""chartgen: presets for clustered stateful middleware -> production-grade Helm charts."""

from .chart import Chart
from .errors import ChartgenError
from .generate import generate
from .presets import all_presets, load as load_preset, names as preset_names

__all__ = ["Chart", "ChartgenError", "generate", "all_presets", "load_preset", "preset_names"]
