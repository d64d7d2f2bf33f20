#!/bin/sh
# bootstrap.sh: init step of every etcd pod. Decides how this member starts and writes
# etcd's config file (the etcd image has no shell, so the decision is made here).
#   - data on disk            -> restart from it ("existing"); never re-initialised, never removed
#   - no data, cluster answers -> join as a learner (the agent promotes it once caught up)
#   - no data, nobody answers  -> take part in the initial bootstrap ("new"), install only
# Env: POD_NAME REPLICAS CLUSTER_STATE DATA_DIR BASE_CONFIG CONFIG_FILE + lib.sh's
set -eu
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

ordinal=$(ordinal)
self_peer=$(peer_url "$ordinal")
others=$(endpoints "$REPLICAS" "$ordinal")

# member list from the other members (fails when none answers or there is no quorum)
members() { [ -n "$others" ] && ctl --endpoints="$others" member list -w simple; }

write_config() { # STATE INITIAL_CLUSTER
  {
    while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done <"$BASE_CONFIG"
    printf 'name: %s\n' "$POD_NAME"
    printf 'data-dir: %s\n' "$DATA_DIR"
    printf 'initial-advertise-peer-urls: %s\n' "$self_peer"
    printf 'advertise-client-urls: %s\n' "$(client_url "$ordinal")"
    printf 'initial-cluster: %s\n' "$2"
    printf 'initial-cluster-state: %s\n' "$1"
  } >"$CONFIG_FILE"
  log "$POD_NAME starts with initial-cluster-state=$1"
}

# initial-cluster from a member list; members added but not started have no name yet
cluster_from_list() {
  _pairs=
  _pair() {
    split_member "$1"
    if [ "$m_peer" = "$self_peer" ]; then m_name=$POD_NAME; fi
    _pairs="${_pairs:+$_pairs,}${m_name:-unstarted-$m_id}=$m_peer"
  }
  each_line "$1" _pair
  printf '%s' "$_pairs"
}

# add this member as a learner (one learner at a time: wait for the slot), then start
join() {
  tries=0
  until out=$(ctl --endpoints="$others" member add "$POD_NAME" --learner --peer-urls="$self_peer" 2>&1); do
    tries=$((tries + 1))
    if [ "$tries" -ge 150 ]; then log "cannot join the cluster: $out"; exit 1; fi
    log "waiting to join: $out"
    pause 2
  done
  write_config existing "$(value_of ETCD_INITIAL_CLUSTER "$out")"
}

if [ -d "$DATA_DIR/member/wal" ]; then
  if list=$(members 2>/dev/null); then
    if find_member "$self_peer" "$list"; then
      write_config existing "$(cluster_from_list "$list")"
      exit 0
    fi
    log "$POD_NAME was removed from the cluster and its data is stale; if it should be a member" \
      "again, delete PVC data-$POD_NAME (or use persistentVolumeClaimRetentionPolicy.whenScaled=Delete)"
    exit 1
  fi
  # nobody answers (e.g. every pod restarted at once): restart from our own data
  write_config existing "$POD_NAME=$self_peer"
  exit 0
fi

if list=$(members 2>/dev/null); then
  if find_member "$self_peer" "$list"; then
    if [ -n "$m_clients" ]; then
      # it ran before and its data is gone: the old identity cannot come back empty
      log "$POD_NAME lost its data; removing its old identity $m_id and joining again"
      remove_member "$m_id" "$others" || exit 1
      join
    else
      # added (initial bootstrap or an earlier join) but never started: start as that member
      write_config existing "$(cluster_from_list "$list")"
    fi
  else
    join
  fi
  exit 0
fi

if [ "$CLUSTER_STATE" = new ]; then
  write_config new "$(initial_cluster)"
  exit 0
fi
log "no member of the cluster answers and $POD_NAME has no data; refusing to bootstrap a second cluster"
exit 1
