#!/bin/sh
# agent.sh: sidecar of every pod (roleLabels.enabled). Every INTERVAL seconds it works out
# this pod's role and labels the pod ROLE_LABEL=<role>, so the master Service (which selects
# role=master) always routes to the current master:
#   master   valkey-server says master AND a majority of all sentinels name this pod
#   replica  valkey-server says replica
#   unknown  anything else (down, loading, a master the sentinels do not confirm)
# The label is set on every change and re-asserted every RESYNC seconds (nothing is lost if
# a patch fails or someone edits the label). The role is also written to RUN_DIR/role.
# It reaches the API through the pod's kubectl proxy sidecar (common.sh: kubectl_setup); while
# there is none (e.g. outside Kubernetes) labels are skipped.
# Every 5 s it also makes this pod's sentinel forget departed pods (forget_departed, below),
# follow the others' master when it alone names another (follow_majority) and read its replicas'
# offsets every SENTINEL_INFO_PERIOD_MS (tune_sentinel).
# Env: RUN_DIR INTERVAL ROLE_LABEL API_PROXY POD_NAMESPACE CONFIG_DIR [STALE_AFTER SPLIT_AFTER
#      SENTINEL_INFO_PERIOD_MS] + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"
trap 'exit 0' TERM INT

self=$(self_fqdn) || exit 1
INTERVAL=${INTERVAL:-1}
RESYNC=${RESYNC:-60}
ROLE_LABEL=${ROLE_LABEL:-chartgen.io/role}

# labels once the kubectl sidecar is found (checked again every round until then)
labels=
find_api() {
  [ -z "$labels" ] || return 0
  if kubectl_setup; then
    labels=1
    log "labelling through the kubectl proxy at $API_PROXY"
  elif [ -z "${api_missing_said:-}" ]; then
    log "no kubectl proxy sidecar in this pod (yet): role labels are off; the role is written to $RUN_DIR/role"
    api_missing_said=1
  fi
}

observed_role() {
  if ! server_role 127.0.0.1; then
    role=unknown
  elif [ "$r_role" = slave ]; then
    role=replica
  elif named_by_majority "$self"; then
    role=master
  else
    role=unknown
  fi
}

# Does a majority of all sentinels name HOST as the master? This pod's sentinel first, then the
# others, those that did not answer last time last; it stops at a majority, so a frozen or
# departed pod's sentinel costs its CLI_TIMEOUT only when its answer is needed.
silent=
named_by_majority() {
  _named=0
  for _p in "$self" $(answering_first); do
    if sentinel_view "$_p"; then
      silent=$(without "$_p" "$silent")
      [ "$sv_host" != "$1" ] || _named=$((_named + 1))
      [ "$_named" -lt "$MAJORITY" ] || return 0
    else
      silent="$(without "$_p" "$silent") $_p"
    fi
  done
  return 1
}
answering_first() {
  for _p in $PEERS; do
    case " $silent " in *" $_p "*) ;; *) [ "$_p" = "$self" ] || printf '%s\n' "$_p" ;; esac
  done
  for _p in $silent; do [ "$_p" = "$self" ] || printf '%s\n' "$_p"; done
}
# LIST (words) without WORD: without WORD LIST
without() {
  for _x in $2; do [ "$_x" = "$1" ] || printf '%s ' "$_x"; done
}

# Sentinel never forgets a replica or a sentinel by itself. After a scale-down, a sentinel that
# restarted (with the new PEERS) before the removed pods were gone learns them again and keeps
# them: it counts them as voters and reports a dead replica for ever. Once this pod's sentinel
# knows a host that is not in PEERS and no longer resolves (a departed pod) for STALE_AFTER
# seconds plus 5 s per ordinal (the pods' sentinels never reset together), and while its master
# is up with no failover under way, SENTINEL RESET it: it rediscovers the live replicas (from
# the master's INFO) and sentinels (hello messages) within seconds.
STALE_AFTER=${STALE_AFTER:-10}
stale_members() {
  stale=
  for _what in REPLICAS SENTINELS; do
    _out=$(scli 127.0.0.1 SENTINEL "$_what" "$MASTER_SET") || return 1
    _key=
    while IFS= read -r _l; do
      if [ -z "$_key" ]; then _key=$_l; continue; fi
      if [ "$_key" = ip ]; then
        case " $PEERS " in *" $_l "*) ;; *) getent hosts "$_l" >/dev/null 2>&1 || stale="$stale $(pod_of "$_l")" ;; esac
      fi
      _key=
    done <<EOF
$_out
EOF
  done
  [ -n "$stale" ]
}
stale_since=
forget_departed() {
  if ! stale_members; then stale_since=; return 0; fi
  [ -n "$stale_since" ] || stale_since=$(now)
  [ $(($(now) - stale_since)) -ge $((STALE_AFTER + 5 * ${POD_NAME##*-})) ] || return 0
  sentinel_view 127.0.0.1 && [ "$sv_flags" = master ] || return 0
  if [ "$(scli 127.0.0.1 SENTINEL RESET "$MASTER_SET")" = 1 ]; then
    log "sentinel reset: it knew departed pod(s):$stale"
  fi
  stale_since=
}

# A sentinel that names another master than a majority of the others, with no failover under
# way, for longer than a failover takes, is stuck: seen when a master froze while its sentinel led
# a failover, and thawed after the others had moved on; it finished its stale failover, named
# its own pod and never followed the others again. Make it monitor what the majority names: a
# new monitor at config epoch 0 takes the others' newer configuration from their hellos.
SPLIT_AFTER=${SPLIT_AFTER:-$((DOWN_AFTER_MS * 2 / 1000 + 5))}
split_since=
follow_majority() {
  sentinel_view 127.0.0.1 || { split_since=; return 0; }
  _mine=$sv_host _flags=$sv_flags
  views "$self"
  case ",$_flags," in *failover*) split_since=; return 0 ;; esac
  if [ "$v_votes" -lt "$MAJORITY" ] || [ -n "$v_best_down" ] || [ "$v_best" = "$_mine" ]; then
    split_since=; return 0
  fi
  [ -n "$split_since" ] || split_since=$(now)
  [ $(($(now) - split_since)) -ge "$SPLIT_AFTER" ] || return 0
  log "sentinel names $(pod_of "$_mine"), $v_votes others name $(pod_of "$v_best"): monitoring $(pod_of "$v_best")"
  scli 127.0.0.1 SENTINEL REMOVE "$MASTER_SET" >/dev/null
  scli 127.0.0.1 SENTINEL MONITOR "$MASTER_SET" "$v_best" "$SERVER_PORT" "$QUORUM" >/dev/null
  # the chart's settings (sentinel-master.conf: "sentinel OPTION SET VALUE") and the password,
  # given on stdin (never on a command line)
  {
    while read -r _s _opt _set _val; do
      [ "$_s" = sentinel ] && printf 'SENTINEL SET %s %s %s\n' "$MASTER_SET" "$_opt" "$_val"
    done <"$CONFIG_DIR/sentinel-master.conf"
    [ -z "${REDIS_PASSWORD:-}" ] || printf 'SENTINEL SET %s auth-pass %s\n' "$MASTER_SET" "$(conf_quote "$REDIS_PASSWORD")"
  } | scli 127.0.0.1 >/dev/null
  split_since=
}

# Sentinel promotes the replica with the greatest replication offset it last read by INFO, and
# accepts a read up to 5 s old while the master is down; it reads every 10 s by default, so the
# ranking may predate the master's stop and pick a replica without the writes WAIT acknowledged
# last (the other one is then resynchronised from it: those writes are gone). Every sentinel of
# the release reads every SENTINEL_INFO_PERIOD_MS instead (a runtime setting: set again after a
# sentinel restart).
tune_sentinel() {
  _want=${SENTINEL_INFO_PERIOD_MS:-}
  [ -n "$_want" ] || return 0
  _now=$(scli 127.0.0.1 SENTINEL DEBUG | sed -n '/^INFO-PERIOD$/{n;p;}')
  [ -n "$_now" ] && [ "$_now" != "$_want" ] || return 0
  if [ "$(scli 127.0.0.1 SENTINEL DEBUG info-period "$_want")" = OK ]; then
    log "sentinel reads its replicas' offsets every ${_want} ms (was ${_now} ms)"
  fi
}

# A master confirmed by the sentinels takes the master label from any other pod first: an old
# master that froze (or lost its network) cannot clear its own label, and would otherwise stay
# behind the master Service until its readiness fails.
# One compare-and-set per pod (a JSON patch whose "test" fails unless it is labelled master).
unlabel_other_masters() {
  _path="/metadata/labels/$(printf '%s' "$ROLE_LABEL" | sed 's,~,~0,g; s,/,~1,g')"
  for _p in $PEERS; do
    _pod=$(pod_of "$_p")
    [ "$_pod" != "$POD_NAME" ] || continue
    if kube patch pod "$_pod" --type=json -p "[{\"op\":\"test\",\"path\":\"$_path\",\"value\":\"master\"},\
{\"op\":\"replace\",\"path\":\"$_path\",\"value\":\"unknown\"}]" >/dev/null 2>&1; then
      log "took the master label from $_pod"
    fi
  done
}

last= labelled= labelled_at=0 checked_at=0 fast_since=
while :; do
  find_api
  observed_role
  if [ "$role" != "$last" ]; then
    log "role: ${last:-none} -> $role"
    last=$role
    printf '%s\n' "$role" >"$RUN_DIR/role.tmp" && mv "$RUN_DIR/role.tmp" "$RUN_DIR/role"
  fi
  if [ -n "$labels" ] && { [ "$role" != "$labelled" ] || [ $(($(now) - labelled_at)) -ge "$RESYNC" ]; }; then
    [ "$role" != master ] || unlabel_other_masters
    if out=$(kube label --overwrite pod "$POD_NAME" "$ROLE_LABEL=$role" 2>&1); then
      [ "$role" = "$labelled" ] || log "labelled $POD_NAME $ROLE_LABEL=$role"
      labelled=$role labelled_at=$(now)
    else
      log "cannot label $POD_NAME: $out"
    fi
  fi
  if [ $(($(now) - checked_at)) -ge 5 ]; then
    checked_at=$(now)
    tune_sentinel
    forget_departed
    follow_majority
  fi
  # a master the sentinels do not confirm yet (a replica just promoted: the failover ends in a
  # second or two) is looked at every 0.2 s for up to 10 s, so the label follows at once
  if [ "$role" = unknown ] && [ "$r_role" = master ]; then
    [ -n "$fast_since" ] || fast_since=$(now)
  else
    fast_since=
  fi
  if [ -n "$fast_since" ] && [ $(($(now) - fast_since)) -lt 10 ]; then pause 0.2; else pause "$INTERVAL"; fi
done
