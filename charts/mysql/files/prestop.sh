#!/bin/sh
# prestop.sh: preStop hooks (the kubelet runs them before it sends SIGTERM).
#   agent   asks the agent to hand over (a primary: read-only, the most advanced staying replica
#           catches up, the Lease moves to it and it promotes itself; agent.sh: switchover) and
#           waits until it is done.
#   server  keeps the server up until the agent has handed over (the target copies the last
#           transactions from it).
# Both give up after HANDOVER_TIMEOUT; then the Lease expires and a failover follows.
# Env: HANDOVER_TIMEOUT + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

case ${1:-} in
agent | server) ;;
*)
  echo "usage: prestop.sh agent|server" >&2
  exit 2
  ;;
esac
handover_request
