#!/bin/sh
# agent.sh: sidecar of every pod (roleLabels.enabled). Every INTERVAL seconds it works out
# this pod's role and labels the pod ROLE_LABEL=<role>, so the master Service (which selects
# role=master) always routes to the current master:
#   master   redis-server says master AND a majority of all sentinels name this pod
#   replica  redis-server says replica
#   unknown  anything else (down, loading, a master the sentinels do not confirm)
# The label is set on every change and re-asserted every RESYNC seconds (nothing is lost if
# a patch fails or someone edits the label). The role is also written to RUN_DIR/role.
# Without a service account token or kubectl (e.g. outside Kubernetes) labels are skipped.
# Env: RUN_DIR INTERVAL ROLE_LABEL [TOKEN_FILE] [KUBECTL] + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"
trap 'exit 0' TERM INT

self=$(self_fqdn) || exit 1
INTERVAL=${INTERVAL:-1}
RESYNC=${RESYNC:-60}
ROLE_LABEL=${ROLE_LABEL:-chartgen.io/role}
TOKEN_FILE=${TOKEN_FILE:-/var/run/secrets/kubernetes.io/serviceaccount/token}
KUBECTL=${KUBECTL:-kubectl}

labels=1
if [ ! -r "$TOKEN_FILE" ]; then
  log "no service account token at $TOKEN_FILE: role labels are off (the role is still written to $RUN_DIR/role)"
  labels=
elif ! command -v "$KUBECTL" >/dev/null 2>&1; then
  log "$KUBECTL not found: role labels are off"
  labels=
fi

observed_role() {
  if ! server_role 127.0.0.1; then
    printf unknown
  elif [ "$r_role" = slave ]; then
    printf replica
  elif [ "$(votes_for "$self")" -ge "$MAJORITY" ]; then
    printf master
  else
    printf unknown
  fi
}

last= labelled= labelled_at=0
while :; do
  role=$(observed_role)
  if [ "$role" != "$last" ]; then
    log "role: ${last:-none} -> $role"
    last=$role
    printf '%s\n' "$role" >"$RUN_DIR/role.tmp" && mv "$RUN_DIR/role.tmp" "$RUN_DIR/role"
  fi
  if [ -n "$labels" ] && { [ "$role" != "$labelled" ] || [ $(($(now) - labelled_at)) -ge "$RESYNC" ]; }; then
    if out=$("$KUBECTL" label --overwrite pod "$POD_NAME" "$ROLE_LABEL=$role" 2>&1); then
      [ "$role" = "$labelled" ] || log "labelled $POD_NAME $ROLE_LABEL=$role"
      labelled=$role labelled_at=$(now)
    else
      log "cannot label $POD_NAME: $out"
    fi
  fi
  pause "$INTERVAL"
done
