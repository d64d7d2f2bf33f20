"""A generated chart on disk: knows its path and can lint, render and package itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import kubeschema, policy
from .errors import ChartNotFoundError, LintError
from .helm import Helm


@dataclass
class Chart:
    path: Path

    def __post_init__(self):
        self.path = Path(self.path)

    @property
    def metadata(self) -> dict[str, Any]:
        try:
            meta = yaml.safe_load((self.path / "Chart.yaml").read_text())
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ChartNotFoundError(
                f"{self.path}/Chart.yaml: not valid YAML{where}; fix it or regenerate the chart") from None
        if not isinstance(meta, dict) or not meta.get("name"):
            raise ChartNotFoundError(f"{self.path}/Chart.yaml: no chart name; regenerate the chart")
        return meta

    @property
    def name(self) -> str:
        return self.metadata["name"]

    @property
    def version(self) -> str:
        return self.metadata["version"]

    @property
    def values(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / "values.yaml").read_text()) or {}

    def render(
        self,
        values: dict[str, Any] | None = None,
        release: str | None = None,
        namespace: str = "default",
        is_upgrade: bool = False,
        helm: Helm | None = None,
    ) -> list[dict[str, Any]]:
        """Objects `helm template` renders (hooks and tests included)."""
        return (helm or Helm()).template(
            self.path, release or self.name, namespace, values, is_upgrade=is_upgrade
        )

    def lint_problems(self, values: dict[str, Any] | None = None, helm: Helm | None = None) -> list[str]:
        """helm lint --strict, then offline schema validation and chartgen's policy."""
        helm = helm or Helm()
        helm.lint(self.path, values)
        objects = self.render(values, helm=helm)
        return kubeschema.problems(objects) + policy.problems(objects)

    def lint(self, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        problems = self.lint_problems(values)
        if problems:
            raise LintError(str(self.path), problems)
        return problems
