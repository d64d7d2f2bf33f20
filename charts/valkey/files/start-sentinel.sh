#!/bin/sh
# start-sentinel.sh: the sentinel container's command, run on every start of the container.
# Writes sentinel.conf on the pod's volume (Sentinel rewrites it with its state), then execs
# valkey-sentinel. The master it monitors at start:
#   1. the one a majority of all sentinels names (the other sentinels answer);
#   2. else the one this sentinel saved last time (a full restart: nobody answers yet, every
#      sentinel restarts from its own state; Sentinel's epochs reconcile any difference);
#   3. else (first start) whatever this pod's valkey-server follows, as start-redis.sh decided.
# Settings always come from the chart; kept from the saved state: the sentinel's id, the
# epochs, and the sentinels it knew (only this release's pods). Replicas are listed from the
# pod FQDNs, so a sentinel knows them even when the master is down at its start.
# Env: DATA_DIR CONFIG_DIR QUORUM + lib.sh's
set -eu
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"
trap 'exit 143' TERM INT

self=$(self_fqdn)
wait_resolvable "$self"
dir=${SENTINEL_CONF%/*}
mkdir -p "$dir"

# -- state saved by Sentinel ---------------------------------------------------------------
p_myid= p_host= p_current=0 p_config= p_leader= p_sentinels=
if [ -f "$SENTINEL_CONF" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    set -f
    # shellcheck disable=SC2086
    set -- $line
    set +f
    [ "${1:-}" = sentinel ] || continue
    case ${2:-} in
    myid) p_myid=${3:-} ;;
    current-epoch) p_current=${3:-0} ;;
    monitor) [ "${3:-}" != "$MASTER_SET" ] || p_host=${4:-} ;;
    config-epoch) [ "${3:-}" != "$MASTER_SET" ] || p_config=${4:-} ;;
    leader-epoch) [ "${3:-}" != "$MASTER_SET" ] || p_leader=${4:-} ;;
    known-sentinel) [ "${3:-}" != "$MASTER_SET" ] || p_sentinels="$p_sentinels${4:-} ${5:-} ${6:-}$NL" ;;
    esac
  done <"$SENTINEL_CONF"
fi
case $p_current in '' | *[!0-9]*) p_current=0 ;; esac

# -- the master to monitor -----------------------------------------------------------------
master= why= epoch=
while :; do
  views "$self"
  if [ "$v_votes" -ge "$MAJORITY" ]; then
    master=$v_best why="named by $v_votes other sentinels"
    [ "$v_top" != "$v_best" ] || epoch=$v_top_epoch
    break
  fi
  if [ -n "$p_host" ]; then
    master=$p_host why="saved state (config epoch ${p_config:-0})"
    break
  fi
  if server_role 127.0.0.1; then
    if [ "$r_role" = master ]; then master=$self; else master=$r_master; fi
    why="first start: this pod's valkey-server is $r_role"
    [ -n "$master" ] && break
  fi
  pause 1
done
wait_resolvable "$master" || :
log "monitoring $(pod_of "$master") as master of $MASTER_SET ($why)"

if [ "$master" = "$p_host" ]; then
  epoch=${p_config:-$epoch}
else
  p_leader=
fi
current=$p_current
case $epoch in '' | *[!0-9]*) epoch= ;; *) [ "$epoch" -le "$current" ] || current=$epoch ;; esac

# -- the configuration -----------------------------------------------------------------------
umask 077
{
  while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done <"$CONFIG_DIR/sentinel.conf"
  printf 'dir %s\n' "$dir"
  printf 'sentinel announce-ip %s\n' "$self"
  printf 'sentinel announce-port %s\n' "$SENTINEL_PORT"
  [ -z "$p_myid" ] || printf 'sentinel myid %s\n' "$p_myid"
  [ -z "${SENTINEL_PASSWORD:-}" ] || printf 'requirepass %s\n' "$(conf_quote "$SENTINEL_PASSWORD")"
  printf 'sentinel monitor %s %s %s %s\n' "$MASTER_SET" "$master" "$SERVER_PORT" "$QUORUM"
  while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done <"$CONFIG_DIR/sentinel-master.conf"
  [ -z "${REDIS_PASSWORD:-}" ] || printf 'sentinel auth-pass %s %s\n' "$MASTER_SET" "$(conf_quote "$REDIS_PASSWORD")"
  printf 'sentinel current-epoch %s\n' "$current"
  [ -z "$epoch" ] || printf 'sentinel config-epoch %s %s\n' "$MASTER_SET" "$epoch"
  [ -z "$p_leader" ] || printf 'sentinel leader-epoch %s %s\n' "$MASTER_SET" "$p_leader"
  for peer in $PEERS; do
    [ "$peer" != "$master" ] || continue
    getent hosts "$peer" >/dev/null 2>&1 || continue
    printf 'sentinel known-replica %s %s %s\n' "$MASTER_SET" "$peer" "$SERVER_PORT"
  done
  printf '%s' "$p_sentinels" | while read -r host port runid; do
    [ -n "$runid" ] && [ "$host" != "$self" ] || continue
    case " $PEERS " in *" $host "*) ;; *) continue ;; esac # a departed pod's sentinel is forgotten
    getent hosts "$host" >/dev/null 2>&1 || continue
    printf 'sentinel known-sentinel %s %s %s %s\n' "$MASTER_SET" "$host" "$port" "$runid"
  done
} >"$SENTINEL_CONF.new"
mv "$SENTINEL_CONF.new" "$SENTINEL_CONF"
exec valkey-sentinel "$SENTINEL_CONF"
