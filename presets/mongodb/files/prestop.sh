#!/bin/sh
# prestop.sh: preStop hook of the mongod container (the kubelet runs it before SIGTERM).
#  1. The primary of a set with other electable members steps down, giving a secondary up to
#     STEPDOWN_CATCHUP_SECONDS to catch up: a rolling upgrade or a drain costs an election of a
#     second or two, not an election timeout of refused writes.
#  2. A departing pod (ordinal >= the StatefulSet's replicas: a scale-down) keeps mongod up until
#     the primary's agent has removed it from the configuration (decide.js: plan), so the set
#     never counts members that are gone towards its majority; elected meanwhile, it steps down
#     again. The replica count comes from the API: the kubectl proxy is a native sidecar, which
#     stops only after this container.
# Bounded by PRESTOP_TIMEOUT (below terminationGracePeriodSeconds).
# Env: PRESTOP_TIMEOUT STATEFULSET STEPDOWN_CATCHUP_SECONDS API_PROXY POD_NAMESPACE + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

TIMEOUT=${PRESTOP_TIMEOUT:-40}
deadline=$(($(now) + TIMEOUT))
# mongosh waits for the step-down's catch-up period (its socket timeout covers it), then some
js stepdown "$((${STEPDOWN_CATCHUP_SECONDS:-10} + 20))" | sed -n 's/^log //p' >&2

replicas=
if kubectl_setup; then
  replicas=$(kube get statefulset "$STATEFULSET" -o 'jsonpath={.spec.replicas}' 2>/dev/null) || replicas=
fi
case $replicas in
'' | *[!0-9]*) exit 0 ;; # no StatefulSet (an uninstall) or no API: nothing to wait for
esac
[ "$(ordinal)" -ge "$replicas" ] || exit 0

log "$POD_NAME departs (ordinal $(ordinal), replicas $replicas): waiting until the set removes it"
while [ "$(now)" -lt "$deadline" ]; do
  out=$(js member 10)
  if [ "$(fact member "$out")" != yes ]; then
    log "no longer a member of the replica set"
    exit 0
  fi
  if [ "$(fact role "$out")" = primary ]; then
    log "elected meanwhile: stepping down again"
    js stepdown "$((${STEPDOWN_CATCHUP_SECONDS:-10} + 20))" >/dev/null
  fi
  pause 2
done
log "still a member after ${TIMEOUT}s: stopping anyway"
