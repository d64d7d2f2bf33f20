#!/bin/sh
# agent.sh: decides what this pod's server is, every INTERVAL seconds. The one arbiter is the
# Lease (failover on): its holder is the primary.
#   holder = this pod   renew it (compare-and-swap); be writable only while renewed: a primary
#                       that could not renew for FENCE_AFTER = LEASE - RENEW - 1 seconds turns
#                       itself read-only (killing the commits that wait for replicas and the
#                       clients) before anyone else may take the Lease.
#   holder = another    be its replica (GTID auto-position): first check this member can follow
#                       it; holding transactions the primary lacks (errant) or lacking ones it
#                       purged means a re-clone (with semi-sync off an errant member stays
#                       unready and says why: its extra transactions may be acknowledged writes).
#   expired             no renewal seen for LEASE seconds (this pod's own clock): stop receiving
#                       from the old primary, apply what was received, then compare GTID sets
#                       with the other members; only the most advanced one (ties: the last
#                       holder, then the lowest ordinal), seeing enough members that every
#                       acknowledged write is among them (N - semi-sync wait count, a majority on
#                       MySQL) while none of them still receives, takes the Lease.
# Promotion: replication reset, semi-sync source on, the primary label cleared from every other
# pod, writable, then this pod labelled chartgen.io/role=primary.
# Failover off: ordinal 0 is the primary, the others follow it.
# Not the primary = read-only, semi-sync source off: checked (and fenced) first when the agent
# starts and when a server that went away as the primary answers again (a hung server wakes up
# writable; made a replica as it is, its applier would wait for semi-sync acknowledgements).
# A preStop request (prestop.sh) makes a primary hand over first (switchover, below).
# The role is written to RUN_DIR/role for the readiness probe (probe.sh).
# Env: INTERVAL LEASE_SECONDS RENEW_SECONDS SEMI_SYNC_WAIT ROLE_LABEL SWITCHOVER + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"
trap 'exit 0' TERM INT
# a preStop hook wakes the agent at once (prestop.sh); a pause ends, the round starts
trap ': woken' USR1
printf '%s\n' "$$" >"$RUN_DIR/agent.pid"

self=$(self_fqdn) || exit 1
INTERVAL=${INTERVAL:-1}
RESYNC=${RESYNC:-60}
# the Lease's timing in milliseconds (this pod's clock; date +%s%3N)
LEASE_MS=$((LEASE_SECONDS * 1000))
RENEW_MS=$((RENEW_SECONDS * 1000))
FENCE_MS=$(((LEASE_SECONDS - RENEW_SECONDS - 1) * 1000))
if [ "${SEMI_SYNC_WAIT:-0}" -gt 0 ]; then
  NEED=$((REPLICAS - SEMI_SYNC_WAIT))
else
  NEED=$((REPLICAS / 2 + 1))
fi
client_files

role=none         # what this agent made of its server: primary | replica | none
renewed_at=0      # when the last successful renewal of the Lease was sent (ms, this pod's clock)
seen_rv= seen_at=0 # the Lease's resourceVersion last seen, and since when (ms, this pod's clock)
labelled= labelled_at=0
why= said= said_at=0
stopping=
# the server may take writes while this member is not the primary: at the agent's start (it
# cannot know what its server was) and after the server went away while it was the primary (a
# hung server comes back as it was: writable, its commits waiting for semi-sync acknowledgements,
# and, made a replica as it is, its applier waits for them too). The next round that reaches the
# server fences it before anything else.
unfenced=1

# say WHY: why this pod is not (yet) what it should be; logged on change and every 30 s
say() {
  why=$1
  if [ "$why" != "$said" ] || [ $(($(now) - said_at)) -ge 30 ]; then
    log "$why"
    said=$why said_at=$(now)
  fi
}

# state ROLE: for the readiness probe: "primary <until>" (writable until then unless renewed),
# "replica" or "none", with the reason
state() {
  case $1 in
  primary)
    if [ "$FAILOVER" = 1 ]; then _st="primary $(((renewed_at + FENCE_MS) / 1000))"; else _st="primary 0"; fi
    ;;
  *) _st=$1 ;;
  esac
  printf '%s\n%s\n' "$_st" "$why" >"$RUN_DIR/role.tmp" && mv -f "$RUN_DIR/role.tmp" "$RUN_DIR/role"
}

# label ROLE: this pod's chartgen.io/role label (on change, and every RESYNC seconds)
label() {
  [ -n "${KUBECTL_BIN:-}" ] || return 0
  if [ "$1" != "$labelled" ] || [ $(($(now) - labelled_at)) -ge "$RESYNC" ]; then
    if _lb_out=$(kube label --overwrite pod "$POD_NAME" "$ROLE_LABEL=$1" 2>&1); then
      [ "$1" = "$labelled" ] || log "labelled $POD_NAME $ROLE_LABEL=$1"
      labelled=$1 labelled_at=$(now)
    else
      log "cannot label $POD_NAME: $_lb_out"
    fi
  fi
}

# the primary label off every other pod, before this one gets it
unlabel_others() {
  _ul_names=
  for _ul_p in $PEERS; do
    [ "$(pod_of "$_ul_p")" = "$POD_NAME" ] || _ul_names="$_ul_names $(pod_of "$_ul_p")"
  done
  [ -n "$_ul_names" ] || return 0
  # one call; pods it may not read (a scale-down already shrank the Role to the staying pods)
  # or that are gone are left out: they leave the Service anyway
  # shellcheck disable=SC2086
  _ul_out=$(kube get pod $_ul_names --ignore-not-found \
    -o 'jsonpath={range .items[*]}{.metadata.name}={.metadata.labels.chartgen\.io/role}{"\n"}{end}' 2>/dev/null) || :
  for _ul_line in $_ul_out; do
    _ul_pod=${_ul_line%%=*}
    [ "${_ul_line#*=}" = primary ] || continue
    if kube label --overwrite pod "$_ul_pod" "$ROLE_LABEL=none" >/dev/null 2>&1; then
      log "cleared the primary label of $_ul_pod"
    else
      log "cannot clear the primary label of $_ul_pod"
      return 1
    fi
  done
}

# kill_clients: end every client connection but replication and this pod's own scripts
kill_clients() {
  _kc_ids=$(sql "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()
    AND USER NOT IN ('system user', 'event_scheduler', $(sql_quote "$REPL_USER"))
    AND NOT (USER = 'root' AND HOST = 'localhost') AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID')" 2>/dev/null)
  for _kc_id in $_kc_ids; do sql "KILL CONNECTION $_kc_id" >/dev/null 2>&1 || :; done
}

# fence: read-only now. Setting it waits for running commits, and a commit that waits for
# semi-sync acknowledgements that will never come would hold it for ever: kill the clients
# (a killed commit is never acknowledged to its client) until it takes.
fence() {
  _fe_n=0
  until eng_writable off >/dev/null 2>&1; do
    kill_clients
    _fe_n=$((_fe_n + 1))
    [ "$_fe_n" -lt 30 ] || { log "cannot make the server read-only"; return 1; }
  done
  kill_clients # the old primary's clients reconnect through the primary Service
}

# make_safe: read-only, semi-sync source off (the state of a member that is not the primary)
make_safe() {
  if [ "$(read_only)" != 1 ]; then
    log "the server takes writes but this member is not the primary: fencing it"
    fence || return 1
  fi
  eng_semisync_source off >/dev/null 2>&1 || :
}

demote() {
  [ "$role" = primary ] || return 0
  log "no longer the primary: $1"
  # a server that does not answer is fenced once it does (unfenced: the next rounds)
  fence || unfenced=1
  eng_semisync_source off >/dev/null 2>&1 || unfenced=1
  role=none
  say "$1"
  state none
  label none
}

promote() {
  log "promoting $POD_NAME to primary ($1)"
  sql "STOP REPLICA" >/dev/null 2>&1 || :
  sql "RESET REPLICA ALL" >/dev/null 2>&1 || :
  if [ "${SEMI_SYNC_WAIT:-0}" -gt 0 ]; then
    eng_semisync_source on "$SEMI_SYNC_WAIT" || { say "cannot turn semi-sync on"; return 1; }
  fi
  unlabel_others || { say "the primary label is still on another pod"; return 1; }
  eng_writable on || { say "cannot make the server writable"; return 1; }
  role=primary why=
  state primary
  label primary
  log "$POD_NAME is the primary (writable)"
}

# reseed REASON: stop the server; start.sh wipes the data and clones a ready member
reseed() {
  log "re-cloning this member: $1"
  printf '%s\n' "$1" >"$RESEED"
  role=none
  say "re-cloning: $1"
  state none
  label none
  "$ADMIN" --defaults-extra-file="$ROOT_CNF" shutdown >/dev/null 2>&1 || :
}

# diverged KIND DETAIL: what to do with a member that cannot follow the primary
diverged() {
  if [ "$1" = errant ] && [ "${SEMI_SYNC_WAIT:-0}" -eq 0 ]; then
    # without lossless semi-sync these transactions may have been acknowledged to clients
    say "holds transactions the primary lacks ($2); semi-sync is off, so they may be acknowledged writes: not re-cloning (check them, then delete this pod's PVC and pod)"
    role=none
    state none
    label none
    return 0
  fi
  case $1 in
  errant) reseed "holds transactions the primary lacks, never acknowledged under lossless semi-sync ($2)" ;;
  *) reseed "the primary no longer has the binary logs of transactions this member lacks ($2)" ;;
  esac
}

# follow PRIMARY_FQDN: be its replica
follow() {
  replica_status || { say "no replication status"; return 1; }
  # the primary cannot send what this member needs: its receiver stopped on a fatal error
  # (engine.sh: eng_io_fatal; MySQL 8.x reports 13114, MariaDB 1236)
  if [ "$rs_source" = "$1" ] && _fw_kind=$(eng_io_fatal "$rs_io_errno" "$rs_io_error"); then
    case $_fw_kind in
    purged | errant)
      diverged "$_fw_kind" "$rs_io_error"
      return 0
      ;;
    esac
    # anything else (a duplicate server_uuid, a missing binary log file...): the reason goes to
    # the log and the readiness probe's message; replication is pointed again once a minute
    say "cannot replicate from $(pod_of "$1") (error $rs_io_errno): $rs_io_error"
    role=none
    state none
    label none
    [ -n "${repointed_at:-}" ] || repointed_at=$(now)
    [ $(($(now) - repointed_at)) -ge 60 ] || return 0
    repointed_at=$(now)
  else
    repointed_at=
  fi
  if [ "$rs_source" = "$1" ] && [ "$rs_sql" = Yes ] && [ "$rs_io" != No ]; then
    eng_replicating
    role=replica
    if [ "$rs_io" = Yes ]; then why=; else say "connecting to $(pod_of "$1")"; fi
    state replica
    label replica
    return 0
  fi
  if [ "$rs_sql_errno" != 0 ] && [ "$rs_source" = "$1" ]; then
    say "replication from $(pod_of "$1") stopped: $rs_sql_error"
    state none
    label none
    return 1
  fi
  # (re)configure: first check this member can follow it
  _fw_exec=$(peer_sql "$1" "SELECT $GTID_EXECUTED_SQL") || { say "$(pod_of "$1") does not answer"; return 1; }
  _fw_purged=$(peer_sql "$1" "SELECT REPLACE(@@gtid_purged, '\\n', '')" 2>/dev/null) || _fw_purged=
  _fw_mine=$(sql "SELECT $GTID_EXECUTED_SQL") || return 1
  eng_joinable "$_fw_exec" "$_fw_purged" "$_fw_mine"
  if [ -n "$ej_problem" ]; then
    diverged "$ej_problem" "this member: '$_fw_mine', $(pod_of "$1"): '$_fw_exec'"
    return 0
  fi
  sql "STOP REPLICA" >/dev/null 2>&1 || :
  eng_before_replicate || { say "cannot set the replication position"; return 1; }
  eng_source_sql "$1" | sql_in || { say "cannot point replication at $(pod_of "$1")"; return 1; }
  sql "START REPLICA" || { say "cannot start replication"; return 1; }
  log "replicating from $(pod_of "$1")"
  role=replica
  state replica
}

# elect: the Lease expired; take it if this member is the one to promote
elect() {
  # stop receiving from the old primary, apply everything received
  replica_status || return 1
  if [ -n "$rs_source" ]; then
    if [ "$rs_io" != No ]; then
      sql "STOP REPLICA IO_THREAD" >/dev/null 2>&1 || :
      log "the Lease expired: stopped receiving from $(pod_of "$rs_source")"
      replica_status || return 1
    fi
    if [ "$rs_sql" = Yes ] && ! eng_wait_applied "$rs_received" 5; then
      say "election: still applying what $(pod_of "$rs_source") sent"
      return 1
    fi
  fi
  [ "$role" != replica ] || { role=none; state none; label none; }
  gtid_state || return 1
  _el_mine=$g_exec
  # the other members stop receiving as soon as they see the expiry too: wait a moment for them
  _el_until=$(($(now_ms) + 3000))
  while survey && [ -n "$_el_wait" ] && [ "$(now_ms)" -lt "$_el_until" ]; do pause 0.3; done
  if [ -n "$_el_wait" ]; then
    say "election: waiting for${_el_wait} to stop receiving from the old primary"
    return 1
  fi
  if [ "$_el_seen" -lt "$NEED" ]; then
    say "election: $_el_seen of the $NEED members needed answer (every acknowledged write is on $NEED of $REPLICAS)"
    return 1
  fi
  if [ -n "$_el_best" ]; then
    say "election: $(pod_of "$_el_best") goes first"
    return 1
  fi
  _el_t=$(now_ms)
  if lease_cas "$l_rv" "$POD_NAME" acquire; then
    renewed_at=$_el_t
    seen_rv=$l_rv seen_at=$_el_t
    log "took the Lease (most advanced of $_el_seen members: '$_el_mine')"
    promote "elected"
  else
    say "election: the Lease changed meanwhile"
  fi
}

# survey: the other members against this one (_el_mine): sets _el_seen (members that answer
# and no longer receive, this one included), _el_wait (those still receiving) and _el_best (one
# that goes first: more advanced, or as advanced and the last holder or a lower ordinal)
survey() {
  _el_seen=1 _el_best= _el_wait=
  for _el_p in $PEERS; do
    [ "$_el_p" != "$self" ] || continue
    gtid_state "$_el_p" || continue
    if [ "$g_io" = Yes ] || [ "$g_io" = Connecting ]; then
      _el_wait="$_el_wait $(pod_of "$_el_p")"
      continue
    fi
    _el_seen=$((_el_seen + 1))
    if ! eng_covers "$_el_mine" "$g_exec" || ! eng_covers "$_el_mine" "$g_recv"; then
      _el_best=$_el_p # it has transactions this member lacks
    elif eng_covers "$g_exec" "$_el_mine"; then
      # as advanced as this member: the last holder first, then the lowest ordinal
      if [ "$(pod_of "$_el_p")" = "$l_holder" ] ||
        { [ "$(pod_of "$self")" != "$l_holder" ] && [ "$(ordinal_of "$_el_p")" -lt "$(ordinal_of "$self")" ]; }; then
        _el_best=$_el_p
      fi
    fi
  done
  return 0
}

# switchover: a stopping primary hands over to the most advanced replica that stays (pods not
# being deleted), within HANDOVER_TIMEOUT
pick_target() {
  _pt_best= _pt_exec= _pt_names=
  for _pt_p in $PEERS; do
    [ "$_pt_p" = "$self" ] || _pt_names="$_pt_names $(pod_of "$_pt_p")"
  done
  # the pods that stay: readable (a scale-down shrinks the Role first) and not being deleted
  # shellcheck disable=SC2086
  _pt_staying=$(kube get pod $_pt_names --ignore-not-found \
    -o 'jsonpath={range .items[*]}{.metadata.name}={.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null) || :
  for _pt_p in $PEERS; do
    [ "$_pt_p" != "$self" ] || continue
    case "$NL$_pt_staying$NL" in *"$NL$(pod_of "$_pt_p")=$NL"*) ;; *) continue ;; esac
    replica_status "$_pt_p" || continue
    [ "$rs_io" = Yes ] && [ "$rs_sql" = Yes ] && [ "$rs_source" = "$self" ] || continue
    if [ -z "$_pt_best" ] || ! eng_covers "$_pt_exec" "$rs_exec"; then _pt_best=$_pt_p _pt_exec=$rs_exec; fi
  done
  [ -n "$_pt_best" ] && printf '%s' "$_pt_best"
}

switchover() {
  _so_deadline=$(($(now) + HANDOVER_TIMEOUT - 2))
  _so_target=$(pick_target) || { log "switchover: no replica to hand over to; a failover follows"; fence; return 1; }
  log "switchover to $(pod_of "$_so_target")"
  fence || return 1
  _so_mine=$(sql "SELECT $GTID_EXECUTED_SQL") || return 1
  until gtid_state "$_so_target" && eng_covers "$g_exec" "$_so_mine"; do
    [ "$(now)" -lt "$_so_deadline" ] || { log "switchover: $(pod_of "$_so_target") did not catch up"; return 1; }
    pause 0.2
  done
  lease_read || return 1
  [ "$l_holder" = "$POD_NAME" ] || { log "switchover: the Lease is held by $l_holder"; return 1; }
  lease_cas "$l_rv" "$(pod_of "$_so_target")" acquire || { log "switchover: cannot move the Lease: $lease_error"; return 1; }
  eng_semisync_source off >/dev/null 2>&1 || :
  role=none
  state none
  label none
  log "the Lease moved to $(pod_of "$_so_target"); waiting for it to take writes"
  until [ "$(read_only "$_so_target" 2>/dev/null)" = 0 ]; do
    [ "$(now)" -lt "$_so_deadline" ] || { log "switchover: $(pod_of "$_so_target") is not writable yet"; return 1; }
    pause 0.2
  done
  log "handed over to $(pod_of "$_so_target")"
}

# a preStop hook asked this pod to stop: a primary hands over first; nothing else changes after
handover() {
  printf 'started\n' >"$RUN_DIR/handover.state"
  stopping=1
  if [ "$role" = primary ] && [ "$FAILOVER" = 1 ] && [ "$REPLICAS" -gt 1 ] && [ "${SWITCHOVER:-1}" = 1 ]; then
    switchover || :
  fi
  printf 'done\n' >"$RUN_DIR/handover.state"
}

# renew: compare-and-swap on the resourceVersion just read; renewed_at is when it was sent
renew() {
  _rn_t=$(now_ms)
  if lease_cas "$l_rv" "$POD_NAME" renew; then
    renewed_at=$_rn_t seen_rv=$l_rv seen_at=$_rn_t
    return 0
  fi
  say "cannot renew the Lease: $lease_error"
  # it may be lost (taken after it expired): fence now rather than at the next round
  [ $(($(now_ms) - renewed_at)) -lt "$FENCE_MS" ] || demote "the Lease was not renewed for $((($(now_ms) - renewed_at) / 1000))s"
  return 1
}

tick() {
  _t=$(now_ms)
  # fence first: a primary that could not renew stops taking writes before the Lease can expire
  if [ "$role" = primary ] && [ "$FAILOVER" = 1 ] && [ $((_t - renewed_at)) -ge "$FENCE_MS" ]; then
    demote "the Lease was not renewed for $(((_t - renewed_at) / 1000))s"
  fi
  if [ -f "$RUN_DIR/handover.request" ] && [ -z "$stopping" ]; then handover; fi
  [ -z "$stopping" ] || return 0
  if [ -f "$SEEDING" ] || ! server_up; then
    [ "$role" = none ] || log "the server is down or being seeded"
    [ "$role" != primary ] || unfenced=1
    role=none
    say "the server is not up (seeding or starting)"
    state none
    return 0
  fi
  if [ -n "$unfenced" ]; then
    make_safe || { say "cannot make the server read-only"; return 0; }
    unfenced=
  fi
  if ! kubectl_setup; then
    say "no kubectl proxy sidecar (yet): cannot use the Lease or label the pod"
    demote "no API access"
    state none
    return 0
  fi
  if [ "$FAILOVER" = 1 ] && [ "$role" = primary ] && [ $(($(now_ms) - renewed_at)) -lt "$RENEW_MS" ]; then
    return 0 # renewed moments ago: only the holder moves the Lease, nothing to read
  fi
  if [ "$FAILOVER" != 1 ]; then
    if [ "$(ordinal)" -eq 0 ]; then
      [ "$role" = primary ] || promote "ordinal 0 (failover off)" || return 0
      state primary
      label primary
    else
      follow "$(peer_at 0)"
    fi
    return 0
  fi
  lease_read
  case $? in
  0) ;;
  2) say "the Lease $LEASE_NAME is missing (helm upgrade restores it)"; return 0 ;;
  *) say "cannot read the Lease: $lease_error"; return 0 ;;
  esac
  [ "$l_rv" = "$seen_rv" ] || seen_rv=$l_rv seen_at=$_t
  if [ "$l_holder" = "$POD_NAME" ]; then
    # ours (also after a restart: nobody took it meanwhile): renew, then be the primary
    if [ "$role" != primary ] || [ $(($(now_ms) - renewed_at)) -ge "$RENEW_MS" ]; then
      renew || return 0
    fi
    if [ "$role" != primary ]; then
      promote "holds the Lease" || return 0
      # a slow promotion (the API calls) must not eat the time until the fence
      [ $(($(now_ms) - renewed_at)) -lt "$RENEW_MS" ] || renew || :
    fi
    state primary
    label primary
    return 0
  fi
  demote "the Lease is held by ${l_holder:-nobody}"
  if [ -z "$l_holder" ] || [ $((_t - seen_at)) -ge "$LEASE_MS" ]; then
    elect
    return 0
  fi
  _tk_primary=$(fqdn_of "$l_holder") || { say "the Lease holder $l_holder is not a member"; return 0; }
  follow "$_tk_primary"
}

log "agent of $POD_NAME: ${ENGINE}, failover $([ "$FAILOVER" = 1 ] && echo "by Lease $LEASE_NAME (${LEASE_SECONDS}s)" || echo "off"), semi-sync wait ${SEMI_SYNC_WAIT:-0}, failover needs $NEED of $REPLICAS members"
state none
# wait INTERVAL seconds, or less when the Lease is due sooner (a renewal, an expiry)
nap() {
  _np_ms=$((INTERVAL * 1000))
  if [ "$FAILOVER" = 1 ] && [ -z "$stopping" ]; then
    if [ "$role" = primary ]; then
      _np_due=$((renewed_at + RENEW_MS - $(now_ms)))
    else
      _np_due=$((seen_at + LEASE_MS - $(now_ms) + 50))
    fi
    if [ "$_np_due" -gt 0 ]; then
      [ "$_np_due" -ge "$_np_ms" ] || _np_ms=$_np_due
    elif [ "$_np_due" -gt $((-_np_ms)) ]; then
      # just due (the last tick began a moment before it and skipped it): at once, never a
      # whole INTERVAL later (a renewal one INTERVAL late would reach the fence)
      _np_ms=0
    fi
  fi
  pause "$((_np_ms / 1000)).$(printf '%03d' $((_np_ms % 1000)))"
}

while :; do
  tick
  nap
done
