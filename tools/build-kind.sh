#!/bin/sh
# build-kind.sh: the kind CLI at $KIND_VERSION (versions.env) from its Go module, for the
# e2e suite's --cluster=kind. Last stdout line: the directory holding `kind`.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/versions.env"  # the only source of pins
OUT=${CHARTGEN_CACHE:-$HOME/.cache/chartgen}/bin/kind-$KIND_VERSION
[ -x "$OUT/kind" ] || GOBIN=$OUT CGO_ENABLED=0 go install "sigs.k8s.io/kind@$KIND_VERSION" >&2
echo "$OUT"
