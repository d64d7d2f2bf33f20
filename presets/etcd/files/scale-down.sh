#!/bin/sh
# scale-down.sh: pre-upgrade/pre-rollback hook. Removes the members whose ordinal is at or
# above the new replica count *before* the StatefulSet deletes their pods, so the cluster
# never counts departed members in its quorum, then shrinks the StatefulSet at once: a removed
# member's etcd exits, and its pod would otherwise restart into a crash loop until Helm
# applies the new replica count. Restarts and evictions never get here.
# Env: REPLICAS (the new count) STATEFULSET API_PROXY POD_NAMESPACE + lib.sh's
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
[ "$removed" -gt 0 ] || exit 0

# the removed members' pods go now (the kubectl sidecar may still be starting: retry)
if retry 10 1 kube scale statefulset "$STATEFULSET" --replicas="$REPLICAS"; then
  log "StatefulSet $STATEFULSET scaled to $REPLICAS"
else
  log "could not scale StatefulSet $STATEFULSET to $REPLICAS (Helm will); its removed pods may restart meanwhile"
fi
