#!/bin/sh
# install-checkov.sh: checkov at $CHECKOV_VERSION (versions.env) in its own virtualenv under the
# chartgen cache (its dependency pins clash with the test dependencies). Last stdout line: the
# checkov executable. Idempotent.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/versions.env"
VENV=${CHARTGEN_CACHE:-$HOME/.cache/chartgen}/checkov-$CHECKOV_VERSION
if [ ! -x "$VENV/bin/checkov" ]; then
    echo "installing checkov $CHECKOV_VERSION into $VENV" >&2
    python3 -m venv "$VENV.tmp"
    "$VENV.tmp/bin/pip" install -q "checkov==$CHECKOV_VERSION" >&2
    rm -rf "$VENV"
    mv "$VENV.tmp" "$VENV"
    # the venv's scripts name their interpreter by path: rewrite it after the move
    sed -i "1s|$VENV.tmp|$VENV|" "$VENV/bin/checkov"
fi
echo "$VENV/bin/checkov"
