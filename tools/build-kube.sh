#!/bin/sh
# Shell entry point of localkube (the local single-node Kubernetes for e2e tests).
#   tools/build-kube.sh            build every binary (cached under $CHARTGEN_CACHE/bin)
#   tools/build-kube.sh up|down|status|image etcd|smoke ...   any localkube command
# The last stdout line of `build` is the Kubernetes binaries' directory.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
if [ $# -eq 0 ] || [ "$1" = build ]; then
    [ $# -gt 0 ] && shift
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m localkube build "$@" >&2
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c \
        'from localkube import build; print(build.binaries()["kubectl"].parent)'
else
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m localkube "$@"
fi
