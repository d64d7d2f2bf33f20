#!/bin/sh
# start-redis.sh: the redis container's command, run on every start of the container.
# Decides whom this pod follows, writes redis.conf, then execs valkey-server.
#   1. A majority of all sentinels names a master     -> follow it (replica of it), or, when
#      it is this pod, be the master again — unless a sentinel sees it down (a failover may be
#      under way: wait for its outcome) or this pod lost its dataset (never serve an empty
#      master to replicas that have the data: wait for the failover).
#   2. Fewer sentinels answer than a majority, or they disagree -> if all that answer name one
#      other pod and its valkey-server says it is master, follow it; else wait for them to
#      converge and after DECIDE_TIMEOUT follow the answer with the highest config epoch.
#   3. No sentinel knows a master                     -> follow a valkey-server that says it is
#      master; else, only on ordinal 0 and only if this pod never belonged to a cluster (no
#      Sentinel state on its volume) and nothing answered for BOOTSTRAP_SETTLE seconds,
#      become the first master. Every other pod waits.
# A restarted old master therefore comes back as a replica of whoever the sentinels promoted.
# Without sentinels (SENTINELS=false: type stateful-single, one pod) the pod is the master, with
# whatever data its volume holds.
# Env: DATA_DIR RUN_DIR CONFIG_DIR DOWN_AFTER_MS FAILOVER_TIMEOUT_MS [SENTINELS] + lib.sh's
set -eu
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"
trap 'exit 143' TERM INT

self=$(self_fqdn)
ordinal=${POD_NAME##*-}
wait_resolvable "$self"

POLL=${POLL_SECONDS:-1}
DECIDE_TIMEOUT=${DECIDE_TIMEOUT:-30}
BOOTSTRAP_SETTLE=${BOOTSTRAP_SETTLE:-5}
# while a sentinel sees this pod (named master) down, wait at most this long for a failover
SELF_WAIT=$((DOWN_AFTER_MS * 2 / 1000 + FAILOVER_TIMEOUT_MS / 1000 + 5))

start=$(now)
quiet_since=$start
master= why=
if [ "${SENTINELS:-true}" = false ]; then
  master=$self why="the only pod (no sentinels)"
fi
while [ -z "$master" ]; do
  elapsed=$(($(now) - start))
  views
  if [ "$v_votes" -ge "$MAJORITY" ]; then
    if [ "$v_best" != "$self" ]; then
      master=$v_best why="named by $v_votes of $REPLICAS sentinels"
      break
    fi
    if [ "$REPLICAS" -gt 1 ] && ! has_data; then
      log "$v_votes sentinels name this pod master but it has no dataset; waiting for them to promote a replica"
    elif [ -n "$v_best_down" ] && [ "$elapsed" -lt "$SELF_WAIT" ]; then
      log "sentinels name this pod master but see it down; waiting for a failover to settle (${elapsed}s/${SELF_WAIT}s)"
    else
      master=$self why="named by $v_votes of $REPLICAS sentinels"
      break
    fi
    quiet_since=$(now)
  elif [ "$v_answers" -gt 0 ]; then
    if [ "$v_votes" -eq "$v_answers" ] && [ "$v_best" != "$self" ] && server_role "$v_best" && [ "$r_role" = master ]; then
      # e.g. a first start: the master's sentinel is up, the others wait for their valkey-server
      master=$v_best why="every answering sentinel ($v_votes) names it and it is master"
      break
    fi
    if [ "$elapsed" -ge "$DECIDE_TIMEOUT" ] && { [ "$v_top" != "$self" ] || has_data || [ "$REPLICAS" -eq 1 ]; }; then
      master=$v_top why="highest config epoch ($v_top_epoch) of $v_answers answering sentinel(s); no majority after ${elapsed}s"
      break
    fi
    log "$v_answers sentinel(s) answer, none with a majority of $MAJORITY; waiting"
    quiet_since=$(now)
  elif running_master "$self"; then
    master=$found_master why="no sentinel knows a master; $(pod_of "$found_master") says it is one"
    break
  elif [ "$ordinal" -eq 0 ] && ! has_sentinel_state; then
    if [ $(($(now) - quiet_since)) -ge "$BOOTSTRAP_SETTLE" ]; then
      master=$self why="first start: no sentinel knows a master and no other pod is one"
      break
    fi
  elif [ $((elapsed % 10)) -eq 0 ]; then
    if has_sentinel_state; then
      log "no sentinel answers yet; waiting for them (this pod's own sentinel restarts from its saved state)"
    else
      log "no sentinel knows a master and no pod is one; waiting for ordinal 0 to start the cluster"
    fi
  fi
  pause "$POLL"
done

if [ "$master" = "$self" ]; then
  log "starting as MASTER ($why)"
else
  log "starting as replica of $(pod_of "$master") ($why)"
  wait_resolvable "$master" || :
fi

conf=$RUN_DIR/redis.conf
umask 077
{
  while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done <"$CONFIG_DIR/redis.conf"
  printf 'dir %s\n' "$DATA_DIR"
  printf 'replica-announce-ip %s\n' "$self"
  printf 'replica-announce-port %s\n' "$SERVER_PORT"
  if [ -n "${REDIS_PASSWORD:-}" ]; then
    printf 'requirepass %s\n' "$(conf_quote "$REDIS_PASSWORD")"
    printf 'masterauth %s\n' "$(conf_quote "$REDIS_PASSWORD")"
  fi
  [ "$master" = "$self" ] || printf 'replicaof %s %s\n' "$master" "$SERVER_PORT"
} >"$conf.tmp"
mv "$conf.tmp" "$conf"
exec valkey-server "$conf"
