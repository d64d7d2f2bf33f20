#!/bin/sh
# probe.sh: the server container's exec probes.
#   live   the server answers, or this pod is seeding its data (start.sh), or the server start.sh
#          started has not answered yet and runs, for up to STARTUP_SECONDS (recovering a clone).
#          Never depends on replication: a replica that cannot replicate is unready, not restarted.
#   ready  the primary: the agent holds the Lease (renewed within its fencing time) and the
#          server takes writes; a replica: both replication threads run and it is at most
#          MAX_LAG seconds behind. Anything else prints why not.
# Env: MAX_LAG STARTUP_SECONDS + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

case ${1:-} in
live)
  [ ! -f "$SEEDING" ] || exit 0
  if "$ADMIN" --defaults-extra-file="$ROOT_CNF" --connect-timeout=3 ping >/dev/null 2>&1; then
    rm -f "$STARTING"
    exit 0
  fi
  # a server start.sh started and that has not answered yet (recovering a clone): alive while
  # its process runs, for up to STARTUP_SECONDS
  if [ -f "$STARTING" ] && read -r _pid _at <"$STARTING" && kill -0 "$_pid" 2>/dev/null; then
    _for=$(($(now) - _at))
    if [ "$_for" -lt "${STARTUP_SECONDS:-600}" ]; then
      echo "$SERVER is starting (${_for}s of ${STARTUP_SECONDS:-600}s): recovering"
      exit 0
    fi
    echo "$SERVER has not answered ${_for}s after its start"
    exit 1
  fi
  echo "$SERVER does not answer"
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
    [ "$(read_only)" = 0 ] && exit 0
    echo "primary, but read-only"
    exit 1
    ;;
  replica)
    replica_status || { echo "no answer"; exit 1; }
    case $rs_lag in '' | NULL | *[!0-9]*) rs_lag=-1 ;; esac
    if [ "$rs_io" = Yes ] && [ "$rs_sql" = Yes ] && [ "$rs_lag" -ge 0 ] && [ "$rs_lag" -le "$MAX_LAG" ]; then
      exit 0
    fi
    echo "replica of ${rs_source:-nothing}: receiving ${rs_io:-?}, applying ${rs_sql:-?}, ${rs_lag}s behind ${rs_io_error}${rs_sql_error}"
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
