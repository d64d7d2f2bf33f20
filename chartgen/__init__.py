"""chartgen: presets for clustered stateful middleware -> production-grade Helm charts.

The public names are imported on first use, so `import chartgen.versions` (and the CLI's
start) does not pay for helm, jsonschema or the Kubernetes client.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Chart": ("chart", "Chart"),
    "ChartgenError": ("errors", "ChartgenError"),
    "generate": ("generator", "generate"),
    "all_presets": ("presets", "all_presets"),
    "load_preset": ("presets", "load"),
    "preset_names": ("presets", "names"),
    "published_preset_names": ("presets", "published_names"),
    "published_charts": ("presets", "published_charts"),
    "errors": ("errors", None),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'chartgen' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    mod = importlib.import_module(f".{module}", __name__)
    return mod if attr is None else getattr(mod, attr)
