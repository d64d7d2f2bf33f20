#!/bin/sh
# probe.sh: readiness of an etcd pod (run in the agent container). Ready means what a client
# needs right after `helm install/upgrade --wait`: this member is a voter (a learner that has
# not been promoted is not ready), and a linearizable request through its own client URL, by
# its FQDN, commits (its name resolves, its listener serves, the cluster has a quorum).
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

self_client=$(client_url "$(ordinal)")
self_peer=$(peer_url "$(ordinal)")
# short timeouts: the probe must answer within its timeoutSeconds
if ! out=$(ETCDCTL_DIAL_TIMEOUT=2s ETCDCTL_COMMAND_TIMEOUT=2s ctl --endpoints="$self_client" member list -w simple 2>&1); then
  printf 'member list through %s: %s\n' "$self_client" "$out"
  exit 1
fi
find_member "$self_peer" "$out" || { echo "not a member (yet)"; exit 1; }
[ "$m_learner" = false ] || { echo "a learner, not yet promoted"; exit 1; }
if ! out=$(ETCDCTL_DIAL_TIMEOUT=2s ETCDCTL_COMMAND_TIMEOUT=2s ctl --endpoints="$self_client" endpoint health 2>&1); then
  printf '%s\n' "$out"
  exit 1
fi
