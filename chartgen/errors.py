"""Typed errors. Each carries a one-line message that names the field and the fix."""


class ChartgenError(Exception):
    """Base class: ``str(err)`` is the one line the CLI prints."""

    exit_code = 2


class UnknownPresetError(ChartgenError):
    pass


class InvalidValueError(ChartgenError):
    """A value (replicas, name, --set, values file) is not acceptable."""


class OutputExistsError(ChartgenError):
    pass


class ValuesFileError(ChartgenError):
    pass


class ToolNotFoundError(ChartgenError):
    pass


class HelmError(ChartgenError):
    """helm exited non-zero; the message carries its stderr (first lines)."""

    exit_code = 1


class LintError(ChartgenError):
    """The chart broke one or more rules; ``problems`` lists them all."""

    exit_code = 1

    def __init__(self, chart: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{chart}: {len(problems)} lint problem(s); first: {problems[0]}")
