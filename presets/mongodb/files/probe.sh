#!/bin/sh
# probe.sh live|ready [SECONDS]: the mongod container's probes (files/mongo.js), mongosh bounded
# by SECONDS (the chart passes one second less than the probe's timeoutSeconds).
#   live   mongod answers `ping` (nothing more: a member that is syncing or recovering is alive)
#   ready  `hello` says PRIMARY or SECONDARY (only those serve reads; the Services follow this)
# Env: lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

case ${1:-} in
live | ready)
  out=$(js "$1" "${2:-8}") && exit 0
  printf '%s\n' "${out:-mongosh gave no answer within ${2:-8}s}"
  exit 1
  ;;
*)
  echo "usage: probe.sh live|ready" >&2
  exit 2
  ;;
esac
