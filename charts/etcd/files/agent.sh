#!/bin/sh
# agent.sh: sidecar of every etcd pod.
#   - promotes this member from learner to voter once it has caught up with the leader
#   - with auth on, creates the root user and enables authentication (idempotent)
# Env: POD_NAME REPLICAS [AUTH_ENABLED ROOT_PASSWORD] + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

# PID 1 ignores SIGTERM unless trapped: stop at once when the pod goes
trap 'exit 0' TERM INT

ordinal=$(ordinal)
self_peer=$(peer_url "$ordinal")
all=$(endpoints "$REPLICAS")
auth_done=

ensure_auth() {
  [ -z "$auth_done" ] || return 0
  out=$(ctl --endpoints="$all" auth status 2>&1) || :
  case $out in
  *"Authentication Status: true"*) auth_done=1; return 0 ;;
  esac
  # the password goes in on stdin, never on a command line
  printf '%s\n' "$ROOT_PASSWORD" | etcdctl --endpoints="$all" user add root --interactive=false >/dev/null 2>&1 || :
  etcdctl --endpoints="$all" user grant-role root root >/dev/null 2>&1 || :
  if etcdctl --endpoints="$all" auth enable >/dev/null 2>&1; then
    log "authentication enabled (user root)"
    auth_done=1
  fi
}

while :; do
  if list=$(ctl --endpoints="$all" member list -w simple 2>/dev/null) && find_member "$self_peer" "$list"; then
    if [ "$m_learner" = true ]; then
      if ctl --endpoints="$all" member promote "$m_id" >/dev/null 2>&1; then
        log "promoted $POD_NAME ($m_id) to a voting member"
      fi
    else
      if [ "${AUTH_ENABLED:-false}" = true ]; then ensure_auth; fi
      pause 20 || exit 1
      continue
    fi
  fi
  pause 2 || exit 1
done
