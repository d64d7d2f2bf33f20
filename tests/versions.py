"""The chart versions the publishing tests expect, derived from the etcd preset's own version
(the one source of a preset's released version), so a preset release never breaks them."""

import semver

from chartgen import presets

_BASE = semver.Version.parse(presets.load("etcd").version)
V0 = str(_BASE)  # a fresh chart
V1 = str(_BASE.bump_patch())  # after one patch bump
V2 = str(_BASE.bump_patch().bump_patch())
V3 = str(_BASE.bump_patch().bump_patch().bump_patch())
MINOR = str(_BASE.bump_minor())
MAJOR = str(_BASE.bump_major())
