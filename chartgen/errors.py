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


class OutputLocationError(OutputExistsError):
    """An output path that is not (and cannot become) a directory chartgen may write into."""


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


class ChartNotFoundError(ChartgenError):
    """A path given as a chart is not a chart directory (no Chart.yaml) nor a packaged .tgz."""


class VersionConflictError(ChartgenError):
    """The same chart name and version already exists with different content: bump the version."""

    exit_code = 1


class RepositoryIndexError(ChartgenError):
    """index.yaml is unreadable, or an entry's digest does not match the file it lists."""

    exit_code = 1


class RegistryError(ChartgenError):
    """An OCI registry refused a push or pull, or could not be reached."""

    exit_code = 1


class ClusterUnreachableError(ChartgenError):
    """The Kubernetes API of the kubeconfig in use does not answer."""

    exit_code = 1


class UnknownReleaseError(ChartgenError):
    """No release of that name in that namespace."""

    exit_code = 1


class ReleaseFailedError(ChartgenError):
    """install/upgrade failed; ``details`` holds the pods' events and last log lines."""

    exit_code = 1

    def __init__(self, message: str, details: list[str] | None = None):
        self.details = details or []
        super().__init__(message)
