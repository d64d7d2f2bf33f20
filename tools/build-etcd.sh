#!/bin/sh
# Build etcd, etcdctl and etcdutl at $ETCD_VERSION (from versions.env) as static
# binaries, from their Go modules, into
#   ${CHARTGEN_CACHE:-$HOME/.cache/chartgen}/bin/etcd-$ETCD_VERSION/
# The last line of stdout is that directory. Needs: go, network access to the Go
# module proxy (first build only). Idempotent: reuses existing binaries.
set -eu

ROOT=${CHARTGEN_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# versions.env is the only source of pins (sourced; no environment override).
. "$ROOT/versions.env"

CACHE=${CHARTGEN_CACHE:-$HOME/.cache/chartgen}
OUT=$CACHE/bin/etcd-$ETCD_VERSION

if [ -x "$OUT/etcd" ] && [ -x "$OUT/etcdctl" ] && [ -x "$OUT/etcdutl" ]; then
    echo "$OUT"
    exit 0
fi

# etcd's own go.mod files carry `replace` lines, which `go install mod@version`
# refuses; a throwaway wrapper module that requires the three modules avoids that.
WORK=$CACHE/build/etcd-$ETCD_VERSION
rm -rf "$WORK"
mkdir -p "$WORK" "$OUT"
cd "$WORK"
cat > go.mod <<MOD
module chartgen.local/etcd-build

go 1.24

require (
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
	go.etcd.io/etcd/etcdctl/v3 $ETCD_VERSION
	go.etcd.io/etcd/etcdutl/v3 $ETCD_VERSION
)
MOD
# Blank imports of the main packages keep `go mod tidy` from dropping them.
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/etcdutl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
GO
go mod tidy >&2

# Static binaries: they get copied into container images later.
export CGO_ENABLED=0
for m in server:etcd etcdctl:etcdctl etcdutl:etcdutl; do
    echo "building ${m#*:} $ETCD_VERSION" >&2
    go build -trimpath -ldflags='-s -w' -o "$OUT/${m#*:}.tmp" "go.etcd.io/etcd/${m%%:*}/v3"
    mv "$OUT/${m#*:}.tmp" "$OUT/${m#*:}"
done

# Sanity check: the server reports the pinned version.
"$OUT/etcd" --version | grep -q "^etcd Version: ${ETCD_VERSION#v}\$" || {
    echo "etcd --version does not report $ETCD_VERSION" >&2; exit 1; }
rm -rf "$WORK"; rmdir "$CACHE/build" 2>/dev/null || true
echo "$OUT"
