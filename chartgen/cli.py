"""The command line only: parsing, messages and exit codes. The work is in the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import presets
from .chart import Chart
from .errors import ChartgenError, LintError
from .generate import generate
from .topology import Peers, fault_tolerance, quorum


def _replicas(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number such as 3, got {text!r}") from None


def cmd_presets(args) -> int:
    for spec in presets.all_presets():
        print(f"{spec.name:<10} {spec.description}")
    return 0


def cmd_generate(args) -> int:
    chart = generate(
        args.preset,
        args.name,
        replicas=args.replicas,
        namespace=args.namespace,
        values_files=args.values or [],
        sets=args.set or [],
        output=args.output,
        force=args.force,
    )
    print(f"generated {chart.name} {chart.version} in {chart.path}")
    return 0


def cmd_lint(args) -> int:
    chart = Chart(args.chart)
    if not (chart.path / "Chart.yaml").is_file():
        raise ChartgenError(f"CHART_DIR {chart.path}: no Chart.yaml there; pass a generated chart directory")
    problems = chart.lint_problems()
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    if problems:
        raise LintError(str(chart.path), problems)
    print(f"{chart.path}: helm lint --strict, Kubernetes schema and chartgen policy: OK")
    return 0


def cmd_topology(args) -> int:
    chart = Chart(args.chart)
    values = chart.values
    release = args.release or chart.name
    members = int(values.get("replicaCount", 1))
    objects = chart.render(release=release, namespace=args.namespace)
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    peers = Peers(sts["metadata"]["name"], sts["spec"]["serviceName"], args.namespace,
                  values.get("clusterDomain", "cluster.local"))
    print(f"{release}: {members} member(s), quorum {quorum(members)}, "
          f"tolerates {fault_tolerance(members)} failure(s)")
    for i, fqdn in enumerate(peers.fqdns(members)):
        print(f"  {peers.pod(i):<24} {fqdn}")
    rendered = next((o["data"] for o in objects if o["kind"] == "ConfigMap"
                     and o["metadata"]["name"].endswith("-topology")), {})
    if "INITIAL_CLUSTER" in rendered:
        scheme = rendered["INITIAL_CLUSTER"].split("=", 1)[1].split(":", 1)[0]
        port = int(rendered["INITIAL_CLUSTER"].split(",")[0].rsplit(":", 1)[1])
        same = rendered["INITIAL_CLUSTER"] == peers.initial_cluster(members, scheme, port)
        print(f"  peer list rendered by helm {'matches' if same else 'DIFFERS FROM'} chartgen.topology")
        if not same:
            return 1
    return 0


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
    g.add_argument("--replicas", type=_replicas, help="default member count")
    g.add_argument("--namespace", help="default namespace (namespaceOverride)")
    g.add_argument("--values", action="append", type=Path, metavar="FILE", help="YAML values to merge")
    g.add_argument("--set", action="append", metavar="KEY=VALUE", help="set a default value")
    g.add_argument("--output", type=Path, help="chart directory (default ./NAME)")
    g.add_argument("--force", action="store_true", help="replace an existing output directory")
    g.set_defaults(func=cmd_generate)

    lint = sub.add_parser("lint", help="helm lint --strict + Kubernetes schemas + chartgen policy")
    lint.add_argument("chart", metavar="CHART_DIR", type=Path)
    lint.set_defaults(func=cmd_lint)

    t = sub.add_parser("topology", help="show the peer identities a chart gives its members")
    t.add_argument("chart", metavar="CHART_DIR", type=Path)
    t.add_argument("--release")
    t.add_argument("--namespace", default="default")
    t.set_defaults(func=cmd_topology)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ChartgenError as err:
        print(f"chartgen: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
