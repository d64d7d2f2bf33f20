"""Rules for chart names (DNS-1123 labels that leave room for derived object names)."""

from __future__ import annotations

import re

from .errors import InvalidValueError

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_name(name: str, preset) -> None:
    """Refuse a chart NAME that is not a DNS label or too long for PRESET (a presets.Preset)."""
    if not DNS1123_LABEL.match(name or ""):
        raise InvalidValueError(
            f"--name {name!r}: not a DNS-1123 label; use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit (e.g. my-etcd)"
        )
    limit = preset.max_name_length()
    if len(name) > limit:
        longest = max(preset.object_suffixes, key=len, default="")
        raise InvalidValueError(
            f"--name {name!r}: {len(name)} characters is too long; derived names such as "
            f"'{name}{longest}' must fit Kubernetes' 63-character limit (StatefulSets 52): "
            f"use at most {limit} characters"
        )
