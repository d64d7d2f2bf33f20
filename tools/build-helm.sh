#!/bin/sh
# Provide the Helm CLI at $HELM_VERSION (from versions.env). The last line of
# stdout is the directory that contains `helm`:
#   - the directory of `helm` on PATH if it reports exactly $HELM_VERSION, else
#   - ${CHARTGEN_CACHE:-$HOME/.cache/chartgen}/bin/helm-$HELM_VERSION, built there
#     from the helm.sh/helm/v4 Go module unless a binary is already there.
set -eu

ROOT=${CHARTGEN_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# versions.env is the only source of pins (sourced; no environment override).
. "$ROOT/versions.env"

if command -v helm >/dev/null 2>&1 &&
   [ "$(helm version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; then
    dirname "$(command -v helm)"
    exit 0
fi

CACHE=${CHARTGEN_CACHE:-$HOME/.cache/chartgen}
OUT=$CACHE/bin/helm-$HELM_VERSION
# rebuild a cached binary that does not report the pinned version (e.g. an unstamped build)
if [ ! -x "$OUT/helm" ] ||
   [ "$("$OUT/helm" version --template '{{.Version}}' 2>/dev/null)" != "$HELM_VERSION" ]; then
    echo "building helm $HELM_VERSION into $OUT" >&2
    # A plain `go install` leaves helm reporting only "vMAJOR.MINOR"; stamp the
    # full version the way helm's own Makefile does. Static, like release builds.
    CGO_ENABLED=0 GOBIN=$OUT go install -trimpath \
        -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
        "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
fi
echo "$OUT"
