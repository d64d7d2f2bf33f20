#!/bin/sh
# scale-down.sh: pre-upgrade/pre-rollback hook. Removes the members whose ordinal is at or
# above the new replica count *before* the StatefulSet deletes their pods, so the cluster
# never counts departed members in its quorum. Restarts and evictions never get here.
# Env: REPLICAS (the new count) + lib.sh's
set -eu
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

keep=$(endpoints "$REPLICAS")
if ! list=$(ctl --endpoints="$keep" member list -w simple 2>&1); then
  log "cannot read the member list from members 0..$((REPLICAS - 1)): $list"
  log "fix the cluster first, or skip this step with scaleDown.enabled=false"
  exit 1
fi

removed=0
remove_if_departing() {
  split_member "$1"
  ord=$(member_ordinal "$m_peer")
  if [ "$ord" -ge "$REPLICAS" ]; then
    remove_member "$m_id" "$keep" || exit 1
    log "removed member ${m_name:-$m_peer} ($m_id): ordinal $ord >= replicaCount $REPLICAS"
    removed=$((removed + 1))
  fi
}
each_line "$list" remove_if_departing
log "$removed member(s) removed; cluster keeps members 0..$((REPLICAS - 1))"
