"""Offline validation of rendered objects against the pinned Kubernetes version's schemas."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from .versions import kubernetes_minor


def problems(objects: list[dict[str, Any]], version: str | None = None) -> list[str]:
    """One message per object that does not match its OpenAPI-derived JSON schema (strict)."""
    version = version or kubernetes_minor()
    found = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path) or "(root)"
            found.append(f"{name}: schema {version}: {path}: {err.message}")
        except kubernetes_validate.SchemaNotFoundError:
            found.append(f"{name}: no Kubernetes {version} schema for {obj.get('apiVersion')} {obj.get('kind')}")
    return found
