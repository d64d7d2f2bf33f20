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
: >"$RUN_DIR/handover.request"
# wake the agent (same pod, one process namespace)
agent=$(read_file "$RUN_DIR/agent.pid" 2>/dev/null) && kill -USR1 "$agent" 2>/dev/null || :
deadline=$(($(now) + HANDOVER_TIMEOUT))
# the agent answers within a few seconds; without one (not running) there is nothing to wait for
started=$(($(now) + 5))
while [ "$(now)" -lt "$deadline" ]; do
  state=$(read_file "$RUN_DIR/handover.state" 2>/dev/null) || state=
  [ "$state" != "done" ] || exit 0
  [ -n "$state" ] || [ "$(now)" -lt "$started" ] || exit 0
  pause 0.2
done
log "no handover within ${HANDOVER_TIMEOUT}s"
exit 0
