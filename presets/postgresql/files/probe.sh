#!/bin/sh
# probe.sh: the server container's exec probes.
#   live   the server answers, or this pod is seeding or rewinding its data (start.sh), or the
#          server start.sh started has not answered yet and runs, for up to STARTUP_SECONDS
#          (crash recovery). Never depends on replication: a standby that cannot stream is
#          unready, not restarted.
#   ready  the primary: the agent holds the Lease (renewed within its fencing time) and the
#          server is out of recovery; a standby: it streams from the primary and has replayed
#          what it received up to MAX_LAG seconds ago. Anything else prints why not.
# Env: MAX_LAG STARTUP_SECONDS + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

case ${1:-} in
live)
  [ ! -f "$SEEDING" ] || exit 0
  if server_up; then
    rm -f "$STARTING"
    exit 0
  fi
  if [ -f "$STARTING" ] && read -r _pid _at <"$STARTING" && kill -0 "$_pid" 2>/dev/null; then
    _for=$(($(now) - _at))
    if [ "$_for" -lt "${STARTUP_SECONDS:-600}" ]; then
      echo "postgres is starting (${_for}s of ${STARTUP_SECONDS:-600}s): recovering"
      exit 0
    fi
    echo "postgres has not answered ${_for}s after its start"
    exit 1
  fi
  # start.sh starts it again after the agent stopped it (fenced, rewinding): a moment
  [ -f "$STARTING" ] && [ $(($(now) - $(stat -c %Y "$STARTING"))) -lt 30 ] && exit 0
  echo "postgres does not answer"
  exit 1
  ;;
ready)
  role= until= why=
  if [ -f "$RUN_DIR/role" ]; then
    { read -r role until; read -r why; } <"$RUN_DIR/role" || :
  fi
  case $role in
  primary)
    if [ "${until:-0}" -ne 0 ] && [ "$(now)" -ge "$until" ]; then
      echo "primary, but its Lease was not renewed in time"
      exit 1
    fi
    [ "$(sql 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && exit 0
    echo "primary, but in recovery"
    exit 1
    ;;
  replica)
    pg_state || { echo "no answer"; exit 1; }
    if [ "$ps_recovery" = t ] && [ "$ps_wr" = streaming ] && [ "${ps_lag:-0}" -le "$MAX_LAG" ]; then
      exit 0
    fi
    echo "standby of ${ps_sender:-nothing}: receiver ${ps_wr:-none}, ${ps_lag}s of WAL not replayed"
    exit 1
    ;;
  *)
    echo "${why:-no role yet}"
    exit 1
    ;;
  esac
  ;;
*)
  echo "usage: probe.sh live|ready" >&2
  exit 2
  ;;
esac
