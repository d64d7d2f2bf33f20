"""The command line only: parsing, messages and exit codes. The work is in the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ChartgenError, ChartNotFoundError, LintError, ReleaseFailedError


def _replicas(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number such as 3, got {text!r}") from None


def cmd_presets(args) -> int:
    from . import presets

    for spec in presets.all_presets():
        print(f"{spec.name:<10} {spec.description}")
    return 0


def cmd_generate(args) -> int:
    from .generator import generate

    chart = generate(
        args.preset,
        args.name,
        flavor=args.flavor,
        type=args.type,
        image=args.image,
        ports=args.port or [],
        storage=args.storage,
        env=args.env or [],
        replicas=args.replicas,
        namespace=args.namespace,
        values_files=args.values or [],
        sets=args.set or [],
        output=args.output,
        force=args.force,
        bump=args.bump,
    )
    print(f"generated {chart.name} {chart.version} in {chart.path}")
    return 0


def _charts_or_default(charts: list[Path]) -> list[Path]:
    """CHARTS as given, else the chart directories in ./charts."""
    from . import publish as publish_mod

    if charts:
        return charts
    found = publish_mod.chart_dirs(Path("charts"))
    if not found:
        raise ChartNotFoundError("CHARTS: none given and no chart directories in ./charts; pass chart directories")
    return found


def cmd_package(args) -> int:
    from . import publish as publish_mod

    for pkg in publish_mod.package(_charts_or_default(args.charts), args.destination):
        print(f"packaged {pkg.name} {pkg.version} -> {pkg.path} (sha256 {pkg.digest[:12]})")
    return 0


def cmd_publish(args) -> int:
    from . import publish as publish_mod

    result = publish_mod.publish(args.charts, args.repo_dir, url=args.url)
    for pkg in result.added:
        print(f"published {pkg.name} {pkg.version} -> {pkg.path} (sha256 {pkg.digest[:12]})")
    for pkg in result.kept:
        print(f"unchanged {pkg.name} {pkg.version} (already in the index with this content)")
    print(f"{result.index}: {len(result.added)} added, {len(result.kept)} unchanged")
    return 0


def cmd_push(args) -> int:
    from . import publish as publish_mod

    for pushed in publish_mod.push(_charts_or_default(args.charts), args.oci, plain_http=args.plain_http):
        if pushed.already:
            print(f"unchanged {pushed.ref} (the registry already holds this content)")
        else:
            print(f"pushed {pushed.ref} ({pushed.digest})")
    return 0


def cmd_install(args) -> int:
    from . import release

    if args.wait:
        print(f"installing {args.release} in namespace {args.namespace}; waiting up to {args.timeout}", flush=True)
    done = release.install(
        args.release,
        namespace=args.namespace,
        preset=args.preset,
        chart=args.chart,
        chart_type=args.type,
        image=args.image,
        flavor=args.flavor,
        values_files=args.values or [],
        sets=args.set or [],
        wait=args.wait,
        timeout=args.timeout,
        kubeconfig=args.kubeconfig,
        report=lambda line: print(f"  {line}", flush=True),
    )
    pods = f"; {done.progress.line()}" if done.progress else "; pods are starting (chartgen status shows them)"
    print(f"{done.release}: revision {done.revision} {done.status} in namespace {done.namespace} "
          f"(chart {done.chart}, app {done.app_version}){pods}")
    return 0


def cmd_uninstall(args) -> int:
    from . import release

    claims = release.uninstall(args.release, namespace=args.namespace, wait=not args.no_wait,
                               kubeconfig=args.kubeconfig)
    print(f"uninstalled {args.release} from namespace {args.namespace}")
    if claims:
        print(f"kept {len(claims)} PersistentVolumeClaim(s) with the members' data: {', '.join(claims)}; "
              f"delete them with: kubectl delete pvc -n {args.namespace} -l app.kubernetes.io/instance={args.release}")
    return 0


def cmd_status(args) -> int:
    from . import release

    st = release.status(args.release, namespace=args.namespace, kubeconfig=args.kubeconfig)
    kind = f", type {'/'.join(st.types)}" if st.types else ""
    print(f"{st.release} (namespace {st.namespace}): revision {st.revision} {st.status}, "
          f"chart {st.chart}, app {st.app_version}{kind}")
    print(f"members healthy {st.healthy}/{st.desired} ({', '.join(st.workloads) or 'no StatefulSet or Deployment'})")
    for m in st.members:
        print(f"  {m.pod:<28} {'ready' if m.ready else 'NOT READY':<10} role {m.role or 'n/a':<8} {'' if m.ready else m.detail}".rstrip())
    print(st.leader_line)
    return 0 if st.ok else 1


def cmd_lint(args) -> int:
    chart = _chart_dir(args.chart)
    problems = chart.lint_problems()
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    if problems:
        raise LintError(str(chart.path), problems)
    print(f"{chart.path}: helm lint --strict, Kubernetes schema and chartgen policy: OK")
    return 0


def _chart_dir(path: Path, flag: str = "CHART_DIR"):
    """A generated chart directory, or a one-line error that says what to pass."""
    from .chart import Chart

    if not path.is_dir() or not (path / "Chart.yaml").is_file():
        what = "does not exist" if not path.exists() else "has no Chart.yaml" if path.is_dir() else "is not a directory"
        raise ChartNotFoundError(f"{flag} {path}: {what}; pass a generated chart directory")
    chart = Chart(path)
    chart.metadata  # a Chart.yaml that cannot be read fails here, with its own line
    return chart


def cmd_topology(args) -> int:
    from . import describe
    from .topology import Peers, fault_tolerance, quorum, rendered_peer_lists

    chart = _chart_dir(args.chart)
    about = describe.read(chart.metadata.get("annotations"))
    release = args.release or chart.name
    objects = chart.render(release=release, namespace=args.namespace)
    domain = chart.values.get("clusterDomain", "cluster.local")
    sets = [o for o in objects if o["kind"] == "StatefulSet"]
    if not sets:
        print(f"{release}: no StatefulSet, so no stable member identities (a Deployment's pods are interchangeable)")
        return 0
    same = True
    for sts in sets:
        members = int(sts["spec"].get("replicas", 1))
        peers = Peers(sts["metadata"]["name"], sts["spec"]["serviceName"], args.namespace, domain)
        rule = (f", quorum {quorum(members)}, tolerates {fault_tolerance(members)} failure(s)"
                if about.majority else "")
        print(f"{release}: {sts['metadata']['name']}: {members} member(s){rule}")
        for i, fqdn in enumerate(peers.fqdns(members)):
            print(f"  {peers.pod(i):<24} {fqdn}")
        for where, listed in rendered_peer_lists(objects, peers.fullname):
            agrees = listed == peers.fqdns(members)
            same = same and agrees
            print(f"  PEERS rendered by helm in {where} {'matches' if agrees else 'DIFFERS FROM'} chartgen.topology")
    return 0 if same else 1


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage text stays behind --help)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see --help\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="chartgen", description="Generate production-grade Helm charts for clustered stateful middleware.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("presets", help="list presets").set_defaults(func=cmd_presets)

    g = sub.add_parser("generate", help="write a chart from a preset")
    g.add_argument("--preset", required=True)
    g.add_argument("--name", required=True, help="chart name (a DNS-1123 label)")
    g.add_argument("--flavor", help="the preset's flavor (e.g. mysql or mariadb); default: its first")
    g.add_argument("--type", metavar="TYPE",
                   help="deployment type: stateful-single, stateful-multi, stateless-single or stateless-multi "
                        "(as the preset offers; default: its first); the chart's `type` value")
    g.add_argument("--image", metavar="IMAGE[:TAG]", help="the main container's image (the component preset needs it)")
    g.add_argument("--port", action="append", metavar="[NAME=]N",
                   help="a port the container listens on (repeat for more; the first is probed)")
    g.add_argument("--storage", metavar="SIZE", help="volume size (persistence.size), e.g. 10Gi; turns persistence on")
    g.add_argument("--env", action="append", metavar="NAME=VALUE", help="an environment variable (repeat for more)")
    g.add_argument("--replicas", type=_replicas, help="default member count")
    g.add_argument("--namespace", help="default namespace (namespaceOverride)")
    g.add_argument("--values", action="append", type=Path, metavar="FILE", help="YAML values to merge")
    g.add_argument("--set", action="append", metavar="KEY=VALUE", help="set a default value")
    g.add_argument("--output", type=Path, help="chart directory (default ./NAME)")
    g.add_argument("--force", action="store_true", help="replace an existing output directory")
    g.add_argument("--bump", default="patch", metavar="patch|minor|major",
                   help="when replacing a chart whose content changed: which part of its version to bump "
                        "(unchanged content keeps its version)")
    g.set_defaults(func=cmd_generate)

    lint = sub.add_parser("lint", help="helm lint --strict + Kubernetes schemas + chartgen policy")
    lint.add_argument("chart", metavar="CHART_DIR", type=Path)
    lint.set_defaults(func=cmd_lint)

    t = sub.add_parser("topology", help="show the peer identities a chart gives its members")
    t.add_argument("chart", metavar="CHART_DIR", type=Path)
    t.add_argument("--release")
    t.add_argument("--namespace", default="default")
    t.set_defaults(func=cmd_topology)

    pk = sub.add_parser("package", help="package charts (reproducible .tgz, named by version)")
    pk.add_argument("charts", nargs="*", type=Path, metavar="CHART", help="chart directories (default: ./charts/*)")
    pk.add_argument("--destination", "-d", type=Path, required=True, metavar="DIR")
    pk.set_defaults(func=cmd_package)

    pub = sub.add_parser("publish", help="package charts into a Helm repository folder and merge its index.yaml")
    pub.add_argument("charts", nargs="*", type=Path, metavar="CHART",
                     help="chart directories or .tgz (default: the chart directories in --repo-dir)")
    pub.add_argument("--repo-dir", type=Path, required=True, metavar="DIR", help="the folder served as the repository")
    pub.add_argument("--url", help="where DIR is served (default: relative URLs, resolved by helm against the repo URL)")
    pub.set_defaults(func=cmd_publish)

    push = sub.add_parser("push", help="push charts to an OCI registry (helm push)")
    push.add_argument("charts", nargs="*", type=Path, metavar="CHART",
                      help="chart directories or .tgz (default: ./charts/*)")
    push.add_argument("--oci", required=True, metavar="oci://HOST/PATH")
    push.add_argument("--plain-http", action="store_true", help="the registry speaks HTTP, not HTTPS")
    push.set_defaults(func=cmd_push)

    def cluster_args(c, release_positional: bool):
        if release_positional:
            c.add_argument("release", metavar="RELEASE")
        c.add_argument("--namespace", "-n", default="default")
        c.add_argument("--kubeconfig", help="default: $KUBECONFIG, else ~/.kube/config")

    ins = sub.add_parser("install", help="install or upgrade a release from a preset or a chart (pyhelm3)")
    src = ins.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="generate from this preset into a temporary chart")
    src.add_argument("--chart", type=Path, metavar="DIR", help="an already generated chart directory")
    ins.add_argument("--type", metavar="TYPE", help="with --preset: the deployment type to generate")
    ins.add_argument("--image", metavar="IMAGE[:TAG]", help="with --preset: the main container's image")
    ins.add_argument("--flavor", help="with --preset: the preset's flavor (e.g. mariadb, valkey); default: its first")
    ins.add_argument("--release", required=True)
    cluster_args(ins, False)
    ins.add_argument("--values", action="append", type=Path, metavar="FILE", help="install-time values")
    ins.add_argument("--set", action="append", metavar="KEY=VALUE", help="an install-time value")
    ins.add_argument("--wait", action="store_true", help="wait for the pods, showing pods ready n/N")
    ins.add_argument("--timeout", default="5m", help="how long helm may take (default 5m)")
    ins.set_defaults(func=cmd_install)

    un = sub.add_parser("uninstall", help="uninstall a release (its PVCs stay)")
    cluster_args(un, True)
    un.add_argument("--no-wait", action="store_true", help="return before the pods are gone")
    un.set_defaults(func=cmd_uninstall)

    st = sub.add_parser("status", help="a release's members: healthy n/N and who leads (exit 1 unless all ready)")
    cluster_args(st, True)
    st.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ChartgenError as err:
        for line in getattr(err, "details", []) if isinstance(err, ReleaseFailedError) else []:
            print(f"  {line}", file=sys.stderr)
        print(f"chartgen: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
