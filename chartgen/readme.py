"""The generated chart README: what the chart is, how to install, and a values table."""

from __future__ import annotations

import json
from typing import Any


def _rows(schema: dict[str, Any], values: Any, prefix: str = ""):
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        default = values.get(key) if isinstance(values, dict) else None
        if sub.get("type") == "object" and sub.get("properties") and not sub.get("x-leaf"):
            yield from _rows(sub, default or {}, path + ".")
            continue
        shown = json.dumps(default, default=str) if default not in (None, "") else '""' if default == "" else "null"
        desc = sub.get("description", "").replace("|", "\\|").replace("\n", " ")
        yield f"| `{path}` | {desc} | `{shown.replace('|', '/')}` |"


def values_table(schema: dict[str, Any], values: dict[str, Any]) -> str:
    head = "| Key | Description | Default |\n|---|---|---|"
    return head + "\n" + "\n".join(_rows(schema, values))
