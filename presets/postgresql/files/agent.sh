#!/bin/sh
# agent.sh: decides what this pod's server is, every INTERVAL seconds. The one arbiter is the
# Lease (failover on): its holder is the primary.
#   holder = this pod   renew it (compare-and-swap) and be the primary: synchronous_standby_names
#                       = ANY SYNC_WAIT of the other members, promoted, a replication slot for
#                       every other member. A primary that could not renew for FENCE_AFTER =
#                       LEASE - RENEW - 1 seconds stops its server (start.sh starts it again as a
#                       standby) before anyone else may take the Lease, unless (FAILSAFE: the
#                       API does not answer) every other member still streams from it
#                       (decide.sh: failsafe_verdict; checked every round). With quorum
#                       synchronous commit it could not acknowledge a commit anyway once its
#                       standbys stop receiving; the stop also ends its reads and its clients.
#   holder = another    be its standby: stream from it (primary_conninfo, its slot) when this
#                       member's WAL is a prefix of the primary's history (decide.sh:
#                       follow_plan), else have start.sh rewind it (pg_rewind) first.
#   expired             no renewal seen for LEASE seconds (this pod's own clock): stop receiving
#                       from the old primary, then compare WAL ends with the other members; only
#                       the most advanced one (ties: the last holder, then the lowest ordinal),
#                       seeing NEED members that no longer receive (N - SYNC_WAIT: every
#                       acknowledged commit is on one of them), takes the Lease (decide.sh:
#                       elect_verdict) and promotes.
# A server out of recovery on a member that does not hold the Lease is stopped at once.
# Failover off: ordinal 0 is the primary, the others follow it.
# A preStop request (prestop.sh) makes a primary hand over first (switchover, below).
# The role is written to RUN_DIR/role for the readiness probe (probe.sh).
# Env: INTERVAL LEASE_SECONDS RENEW_SECONDS SYNC_WAIT ROLE_LABEL SWITCHOVER FAILSAFE + lib.sh's
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
if [ "${SYNC_WAIT:-0}" -gt 0 ]; then
  NEED=$((REPLICAS - SYNC_WAIT))
else
  NEED=$((REPLICAS / 2 + 1))
fi
pgpass_file

role=none          # what this agent made of its server: primary | replica | none
renewed_at=0       # when the last successful renewal of the Lease was sent (ms, this pod's clock)
held_at=0          # past the last failsafe check that kept this primary (readiness; ms)
lost_api=          # the last Lease read failed: the expiry clock restarts at the next good one
seen_rv= seen_at=0 # the Lease's resourceVersion last seen, and since when (ms, this pod's clock)
labelled= labelled_at=0
why= said= said_at=0
stopping=
following= following_since=0 # the primary this member was pointed at, and since when (s)

# say WHY: why this pod is not (yet) what it should be; logged on change and every 30 s
say() {
  why=$1
  if [ "$why" != "$said" ] || [ $(($(now) - said_at)) -ge 30 ]; then
    log "$why"
    said=$why said_at=$(now)
  fi
}

# state ROLE: for the readiness probe: "primary <until>" (renewed until then), "replica" or
# "none", with the reason
state() {
  case $1 in
  primary)
    # ready until the fence is due after the later of the last renewal and failsafe check
    _st_at=$held_at
    [ "$renewed_at" -le "$_st_at" ] || _st_at=$renewed_at
    if [ "$FAILOVER" = 1 ]; then _st="primary $(((_st_at + FENCE_MS) / 1000))"; else _st="primary 0"; fi
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

# not_primary WHY: this member must not take writes: its server stopped when it is out of
# recovery (start.sh starts it again as a standby); a primary it was leaves the Services
not_primary() {
  if [ "$role" = primary ]; then
    log "no longer the primary: $1"
    role=none
    say "$1"
    state none
    label none
  fi
  if [ "${ps_recovery:-t}" = f ]; then
    log "stopping the server: it is out of recovery but this member is not the primary ($1)"
    role=none
    state none
    label none
    stop_server fast || log "cannot stop the server"
    ps_recovery=t
  fi
}

# failsafe: keep (FAILSAFE on and every other member streams from this primary, replying within
# the last 2 s), "fence <the members that do not>" (decide.sh: failsafe_verdict), "off" or "no
# answer" (this pod's server)
failsafe() {
  [ "${FAILSAFE:-0}" = 1 ] || { printf 'off'; return 0; }
  _fs_rows=$(sql "SELECT string_agg(application_name, ' ') FROM pg_stat_replication
    WHERE state = 'streaming' AND reply_time > now() - interval '2 seconds'") || { printf 'no answer'; return 0; }
  _fs_pods=
  for _fs_p in $PEERS; do
    [ "$_fs_p" = "$self" ] || _fs_pods="$_fs_pods $(pod_of "$_fs_p")"
  done
  # shellcheck disable=SC2086 # pod names
  failsafe_verdict "$_fs_rows" $_fs_pods
}

# ensure_slots: a physical slot for every other member (reserving WAL from its first use), and
# none for pods that are no longer members
ensure_slots() {
  _es_want=
  for _es_p in $PEERS; do
    [ "$_es_p" = "$self" ] || _es_want="$_es_want $(slot_name "$(pod_of "$_es_p")")"
  done
  _es_have=$(sql "SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical' AND NOT temporary") || return 1
  for _es_s in $_es_want; do
    case " $(printf '%s' "$_es_have" | tr '\n' ' ') " in *" $_es_s "*) continue ;; esac
    sql "SELECT pg_create_physical_replication_slot('$_es_s')" >/dev/null || return 1
  done
  for _es_s in $_es_have; do
    case "$_es_want " in *" $_es_s "*) continue ;; esac
    case $_es_s in "$(slot_name "${POD_NAME%-*}")"_*) ;; *) continue ;; esac # only this release's
    sql "SELECT pg_drop_replication_slot('$_es_s') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$_es_s' AND active)" >/dev/null &&
      log "dropped the slot of $_es_s (no longer a member)"
  done
}

# sync_setting: this member's synchronous_standby_names as the primary
sync_setting() {
  _ss_pods=
  for _ss_p in $PEERS; do _ss_pods="$_ss_pods $(pod_of "$_ss_p")"; done
  # shellcheck disable=SC2086
  sync_names "${SYNC_WAIT:-0}" "$POD_NAME" $_ss_pods
}

# set_sync: synchronous_standby_names for this member as the primary, in effect before it
# returns (a reload is asynchronous; the first commit as the primary must already wait)
set_sync() {
  _pr_sync=$(sync_setting)
  [ "$(sql "SHOW synchronous_standby_names")" != "$_pr_sync" ] || return 0
  sql "ALTER SYSTEM SET synchronous_standby_names = $(sql_quote "$_pr_sync")" >/dev/null || return 1
  sql "SELECT pg_reload_conf()" >/dev/null || return 1
  _pr_n=0
  until [ "$(sql "SHOW synchronous_standby_names")" = "$_pr_sync" ]; do
    _pr_n=$((_pr_n + 1))
    [ "$_pr_n" -lt 50 ] || return 1
    pause 0.1
  done
  log "commits wait for ${SYNC_WAIT:-0} standby(s): '$_pr_sync'"
}

promote() {
  set_sync || { say "cannot set synchronous_standby_names"; return 1; }
  if [ "$ps_recovery" = t ]; then
    log "promoting $POD_NAME to primary ($1)"
    sql "ALTER SYSTEM RESET primary_conninfo" >/dev/null || :
    sql "ALTER SYSTEM RESET primary_slot_name" >/dev/null || :
    [ "$(sql "SELECT pg_promote(true, 60)")" = t ] || { say "pg_promote failed"; return 1; }
    ps_recovery=f
  fi
  ensure_slots || say "cannot create the standbys' replication slots"
  unlabel_others || { say "the primary label is still on another pod"; return 1; }
  role=primary why=
  state primary
  label primary
  log "$POD_NAME is the primary"
}

# reseed REASON: stop the server; start.sh wipes the data and copies a member
reseed() {
  log "re-seeding this member: $1"
  printf '%s\n' "$1" >"$RESEED"
  role=none following=
  say "re-seeding: $1"
  state none
  label none
  stop_server fast || :
}

# rewind PRIMARY WHY: stop the server; start.sh runs pg_rewind to PRIMARY, then starts it again
rewind() {
  log "rewinding to $(pod_of "$1"): $2"
  printf '%s\n' "$1" >"$REWIND"
  role=none following=
  say "rewinding to $(pod_of "$1"): $2"
  state none
  label none
  stop_server fast || :
}

# release_held: start.sh holds a server that last ran as the primary (start.sh: hold): start it
# as it is while this member holds the Lease, else rewind it to the primary first
release_held() {
  if [ "$FAILOVER" != 1 ]; then
    if [ "$(ordinal)" -eq 0 ]; then _rh_primary=; else _rh_primary=$(peer_at 0); fi
  else
    kubectl_setup || { say "held: waiting for the kubectl proxy sidecar"; return 0; }
    lease_read || { say "held: cannot read the Lease: ${lease_error:-missing}"; return 0; }
    if [ "$l_holder" = "$POD_NAME" ] || [ -z "$l_holder" ]; then
      _rh_primary=
    else
      _rh_primary=$(fqdn_of "$l_holder") || { say "held: the Lease holder $l_holder is not a member"; return 0; }
    fi
  fi
  if [ -z "$_rh_primary" ]; then
    log "starting the server as it is (this member holds the Lease)"
    : >"$RUN_DIR/release"
    return 0
  fi
  if pg_state "$_rh_primary" && [ "$ps_recovery" = f ]; then
    log "the server last ran as the primary; $(pod_of "$_rh_primary") is the primary now: rewinding to it first"
    printf '%s\n' "$_rh_primary" >"$REWIND"
    return 0
  fi
  say "held: waiting for $(pod_of "$_rh_primary") to be the primary (this member's server last ran as the primary)"
}

# primary_slot PRIMARY: this member's slot name when PRIMARY has that slot, else nothing
primary_slot() {
  _ps_slot=$(slot_name "$POD_NAME")
  [ "$(peer_sql "$1" "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$_ps_slot'" 2>/dev/null)" = 1 ] &&
    printf '%s' "$_ps_slot"
}

# follow PRIMARY_FQDN: be its standby
follow() {
  if [ "$ps_wr" = streaming ] && [ "$ps_sender" = "$1" ]; then
    rm -f "$DATA_ROOT/rewound"
    # streaming without a slot (the primary had none for this member yet, e.g. its peer list
    # predates a scale-up): use it once it exists
    if [ -z "$(sql "SHOW primary_slot_name")" ] && [ -n "$(primary_slot "$1")" ]; then
      sql "ALTER SYSTEM SET primary_slot_name = $(sql_quote "$(slot_name "$POD_NAME")")" >/dev/null &&
        sql "SELECT pg_reload_conf()" >/dev/null && log "streaming through the slot $(slot_name "$POD_NAME") from now on"
    fi
    role=replica why=
    state replica
    label replica
    return 0
  fi
  if [ "$following" = "$1" ] && [ $(($(now) - following_since)) -lt 60 ]; then
    role=none
    say "connecting to $(pod_of "$1") (${ps_wr:-no WAL receiver})"
    state none
    label none
    return 0
  fi
  # (re)configure: first check this member's WAL is a prefix of the primary's
  _fw_mine_tli=$ps_tli _fw_mine_end=$ps_end
  pg_state "$1" || { say "$(pod_of "$1") does not answer"; state none; label none; return 1; }
  if [ "$ps_recovery" != f ]; then
    say "$(pod_of "$1") holds the Lease but is not promoted yet"
    pg_state >/dev/null 2>&1 || :
    state none
    return 0
  fi
  _fw_history=$(timeline_history "$1" "$ps_tli") || { say "cannot read the timeline history of $(pod_of "$1")"; return 1; }
  _fw_plan=$(follow_plan "$_fw_mine_tli" "$_fw_mine_end" "$ps_tli" "$ps_current" "$_fw_history")
  case $_fw_plan in
  rewind*)
    if [ "$(read_file "$DATA_ROOT/rewound" 2>/dev/null)" = "$1" ]; then
      # pg_rewind found nothing to do, yet this member's WAL still leaves the primary's history
      reseed "rewound to $(pod_of "$1") and still $(printf '%s' "${_fw_plan#rewind }")"
    else
      rewind "$1" "${_fw_plan#rewind }"
    fi
    return 0
    ;;
  esac
  if [ "$following" = "$1" ]; then
    # pointed at it for 60 s, its history allows streaming, and still no stream: the WAL this
    # member needs is gone from the primary (beyond its slot's max_slot_wal_keep_size)
    reseed "no stream from $(pod_of "$1") for 60 s although its history allows it"
    return 0
  fi
  _fw_slot=$(primary_slot "$1")
  sql "ALTER SYSTEM SET primary_conninfo = $(sql_quote "$(conninfo "$1")")" >/dev/null &&
    sql "ALTER SYSTEM SET primary_slot_name = $(sql_quote "$_fw_slot")" >/dev/null &&
    sql "SELECT pg_reload_conf()" >/dev/null || { say "cannot point replication at $(pod_of "$1")"; return 1; }
  following=$1 following_since=$(now)
  log "streaming from $(pod_of "$1") (timeline $_fw_mine_tli at $_fw_mine_end; it is on $ps_tli at $ps_current; slot '${_fw_slot}')"
  role=none
  say "connecting to $(pod_of "$1")"
  state none
}

# stop_receiving: no more WAL from the old primary (before WAL ends are compared)
stop_receiving() {
  following=
  if [ -n "$ps_sender" ] || [ "$(sql "SHOW primary_conninfo")" != "" ]; then
    sql "ALTER SYSTEM SET primary_conninfo = ''" >/dev/null && sql "SELECT pg_reload_conf()" >/dev/null || return 1
    log "the Lease expired: stopped receiving${ps_sender:+ from $ps_sender}"
  fi
}

# survey: one line per member for elect_verdict ("<pod> <ordinal> <state> <lsn>"). The other
# members are asked at once, each for at most SURVEY_MS; once every member but the
# last holder has answered, the holder gets HOLDER_GRACE_MS more (alive, it answers in
# milliseconds: an old primary restarted, or not fenced yet; frozen or cut off, it costs that
# instead of a timeout). A member that answers late counts as silent this round; elect_verdict
# needs no answer from more than NEED members.
SURVEY_MS=${SURVEY_MS:-1500} HOLDER_GRACE_MS=${HOLDER_GRACE_MS:-300}
SURVEY_TIMEOUT=$((SURVEY_MS / 1000)).$(printf '%03d' $((SURVEY_MS % 1000)))
survey() {
  _sv_rows= _sv_i=0 _sv_jobs= _sv_holder_job=
  _sv_end=$(($(now_ms) + SURVEY_MS))
  for _sv_p in $PEERS; do
    if [ "$_sv_p" != "$self" ]; then
      rm -f "$RUN_DIR/survey.$_sv_i" "$RUN_DIR/survey.$_sv_i.tmp"
      (SQL_TIMEOUT=$SURVEY_TIMEOUT psql_at "$_sv_p" "$REPL_USER" "$PG_STATE_SQL" >"$RUN_DIR/survey.$_sv_i.tmp" 2>/dev/null &&
        mv "$RUN_DIR/survey.$_sv_i.tmp" "$RUN_DIR/survey.$_sv_i") &
      if [ "$(pod_of "$_sv_p")" = "$l_holder" ]; then _sv_holder_job=$!; else _sv_jobs="$_sv_jobs $!"; fi
    fi
    _sv_i=$((_sv_i + 1))
  done
  # the others first, then the holder within its grace (or the whole timeout)
  _sv_others_at=
  while :; do
    _sv_busy=
    for _sv_j in $_sv_jobs; do ! kill -0 "$_sv_j" 2>/dev/null || _sv_busy=1; done
    _sv_now=$(now_ms)
    if [ -z "$_sv_busy" ]; then
      [ -n "$_sv_others_at" ] || _sv_others_at=$_sv_now
      [ -n "$_sv_holder_job" ] && kill -0 "$_sv_holder_job" 2>/dev/null || break
      [ $((_sv_now - _sv_others_at)) -lt "$HOLDER_GRACE_MS" ] || break
    fi
    [ "$_sv_now" -lt "$_sv_end" ] || break
    pause 0.05
  done
  # a late answer is dropped (its subshell ends before it renames its file)
  # shellcheck disable=SC2086 # process ids
  kill $_sv_jobs $_sv_holder_job 2>/dev/null || :
  # shellcheck disable=SC2086 # process ids
  wait $_sv_jobs $_sv_holder_job 2>/dev/null || :
  _sv_i=0
  for _sv_p in $PEERS; do
    if [ "$_sv_p" = "$self" ]; then
      pg_state || return 1
      _sv_rows="$_sv_rows$POD_NAME $_sv_i stopped $ps_end$NL"
    elif [ -s "$RUN_DIR/survey.$_sv_i" ] && pg_state_of "$(cat "$RUN_DIR/survey.$_sv_i")"; then
      if [ "$ps_recovery" = f ]; then _sv_st=primary; elif [ -n "$ps_wr" ]; then _sv_st=receiving; else _sv_st=stopped; fi
      _sv_rows="$_sv_rows$(pod_of "$_sv_p") $_sv_i $_sv_st $ps_end$NL"
    else
      _sv_rows="$_sv_rows$(pod_of "$_sv_p") $_sv_i silent -$NL"
    fi
    rm -f "$RUN_DIR/survey.$_sv_i" "$RUN_DIR/survey.$_sv_i.tmp"
    _sv_i=$((_sv_i + 1))
  done
}

# elect: the Lease expired; take it if this member is the one to promote
elect() {
  stop_receiving || { say "election: cannot stop receiving"; return 1; }
  # the other members stop receiving as soon as they see the expiry too: wait a moment for them
  _el_until=$(($(now_ms) + 3000))
  while :; do
    survey || { say "election: this member's server does not answer"; return 1; }
    pg_state || return 1
    # this member's own receiver may take a moment to stop after the reload
    _el_rows=$(printf '%s' "$_sv_rows" | sed "s/^$POD_NAME \([0-9]*\) stopped /$POD_NAME \1 $([ -n "$ps_wr" ] && echo receiving || echo stopped) /")
    _el_verdict=$(elect_verdict "$POD_NAME" "$l_holder" "$NEED" "$_el_rows")
    case $_el_verdict in "wait for"*) [ "$(now_ms)" -lt "$_el_until" ] || break ;; *) break ;; esac
    pause 0.3
  done
  case $_el_verdict in
  take) ;;
  defer*) say "election: ${_el_verdict#defer } goes first"; return 1 ;;
  *) say "election: $_el_verdict (every acknowledged commit is on $NEED of $REPLICAS members)"; return 1 ;;
  esac
  _el_t=$(now_ms)
  if lease_cas "$l_rv" "$POD_NAME" acquire; then
    renewed_at=$_el_t
    seen_rv=$l_rv seen_at=$_el_t
    log "took the Lease (most advanced: $ps_end on timeline $ps_tli; members: $(printf '%s' "$_el_rows" | tr '\n' ';'))"
    promote "elected"
  else
    say "election: the Lease changed meanwhile"
  fi
}

# switchover: a stopping primary hands over to the most advanced standby that stays (pods not
# being deleted), within HANDOVER_TIMEOUT
pick_target() {
  _pt_names=
  for _pt_p in $PEERS; do
    [ "$_pt_p" = "$self" ] || _pt_names="$_pt_names $(pod_of "$_pt_p")"
  done
  # the pods that stay: readable (a scale-down shrinks the Role first) and not being deleted
  # shellcheck disable=SC2086
  _pt_staying=$(kube get pod $_pt_names --ignore-not-found \
    -o 'jsonpath={range .items[*]}{.metadata.name}={.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null) || :
  _pt_rows=$(sql "SELECT application_name || ' ' || flush_lsn FROM pg_stat_replication WHERE state = 'streaming' AND flush_lsn IS NOT NULL") || return 1
  _pt_best= _pt_lsn=
  each_line "$_pt_rows" pick_target_row
  [ -n "$_pt_best" ] && fqdn_of "$_pt_best"
}
pick_target_row() {
  _ptr_pod=${1%% *} _ptr_lsn=${1#* }
  case "$NL$_pt_staying$NL" in *"$NL$_ptr_pod=$NL"*) ;; *) return 0 ;; esac
  if [ -z "$_pt_best" ] || ! lsn_ge "$_pt_lsn" "$_ptr_lsn"; then _pt_best=$_ptr_pod _pt_lsn=$_ptr_lsn; fi
}

switchover() {
  _so_deadline=$(($(now) + HANDOVER_TIMEOUT - 2))
  _so_target=$(pick_target) || { log "switchover: no standby to hand over to; a failover follows"; not_primary "stopping"; return 1; }
  log "switchover to $(pod_of "$_so_target"): shutting down (every standby receives the shutdown checkpoint)"
  role=none
  state none
  label none
  stop_server fast || { log "switchover: cannot stop the server"; return 1; }
  _so_end=$("$PG_BIN/pg_controldata" -D "$PGDATA" 2>/dev/null | sed -n 's/^Latest checkpoint location: *//p')
  until pg_state "$_so_target" && [ "$(lsn_num "$ps_end")" -gt "$(lsn_num "$_so_end")" ]; do
    [ "$(now)" -lt "$_so_deadline" ] || { log "switchover: $(pod_of "$_so_target") did not receive $_so_end"; return 1; }
    pause 0.2
  done
  lease_read || return 1
  [ "$l_holder" = "$POD_NAME" ] || { log "switchover: the Lease is held by $l_holder"; return 1; }
  lease_cas "$l_rv" "$(pod_of "$_so_target")" acquire || { log "switchover: cannot move the Lease: $lease_error"; return 1; }
  log "the Lease moved to $(pod_of "$_so_target") (it has $ps_end, past the shutdown checkpoint $_so_end); waiting for it to take writes"
  until pg_state "$_so_target" && [ "$ps_recovery" = f ]; do
    [ "$(now)" -lt "$_so_deadline" ] || { log "switchover: $(pod_of "$_so_target") is not promoted yet"; return 1; }
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
  return 1
}

tick() {
  _t=$(now_ms)
  # fence first: a primary that could not renew stops taking writes before the Lease can expire,
  # unless (failsafe) every other member still streams from it
  if [ "$role" = primary ] && [ "$FAILOVER" = 1 ] && fence_due "$_t" "$renewed_at" "$FENCE_MS"; then
    _tk_fs=$(failsafe)
    if [ "$_tk_fs" = keep ]; then
      # ready until the next check, which may first wait out a Lease read (5 s)
      held_at=$((_t + 6000))
      say "failsafe: the Lease was not renewed for $(((_t - renewed_at) / 1000))s (the API does not answer); every other member streams from this primary: it stays the primary"
      state primary
    else
      case $_tk_fs in fence*) _tk_fs="${_tk_fs#fence } not streaming from it" ;; *) _tk_fs="failsafe $_tk_fs" ;; esac
      ps_recovery=f
      not_primary "the Lease was not renewed for $(((_t - renewed_at) / 1000))s ($_tk_fs)"
    fi
  fi
  if [ -f "$RUN_DIR/handover.request" ] && [ -z "$stopping" ]; then handover; fi
  [ -z "$stopping" ] || return 0
  if [ -f "$RUN_DIR/held" ] && [ ! -f "$REWIND" ] && [ ! -f "$RUN_DIR/release" ]; then
    role=none following=
    state none
    release_held
    return 0
  fi
  own_wr=
  if [ -f "$SEEDING" ] || ! pg_state; then
    [ "$role" = none ] || log "the server is down, starting or being seeded"
    role=none following=
    say "the server is not up (seeding, rewinding or starting)"
    state none
    return 0
  fi
  own_wr=$ps_wr
  if ! kubectl_setup; then
    not_primary "no kubectl proxy sidecar (yet): cannot use the Lease or label the pod"
    say "no kubectl proxy sidecar (yet): cannot use the Lease or label the pod"
    state none
    return 0
  fi
  if [ "$FAILOVER" != 1 ]; then
    if [ "$(ordinal)" -eq 0 ]; then
      [ "$role" = primary ] && [ "$ps_recovery" = f ] || promote "ordinal 0 (failover off)" || return 0
    else
      not_primary "following ordinal 0 (failover off)"
      follow "$(peer_at 0)"
    fi
    return 0
  fi
  if [ "$role" = primary ] && [ "$ps_recovery" = f ] && [ $(($(now_ms) - renewed_at)) -lt "$RENEW_MS" ]; then
    return 0 # renewed moments ago: only the holder moves the Lease, nothing to read
  fi
  lease_read
  case $? in
  0) ;;
  2)
    not_primary "the Lease $LEASE_NAME is missing (helm upgrade restores it)"
    say "the Lease $LEASE_NAME is missing (helm upgrade restores it)"
    state none
    return 0
    ;;
  *)
    # the API does not answer: a primary stays one until its fence is due (above)
    lost_api=1
    [ "$role" = primary ] || not_primary "cannot read the Lease: $lease_error"
    say "cannot read the Lease: $lease_error"
    # a standby streams on (reads go on); a primary stays one until its fence is due (above)
    [ "$role" != none ] || state none
    return 0
    ;;
  esac
  # a Lease unchanged since before the API stopped answering expires LEASE after it answers
  # again: the holder, kept by the failsafe, renews meanwhile
  if [ "$l_rv" != "$seen_rv" ] || [ -n "$lost_api" ]; then seen_rv=$l_rv seen_at=$_t; fi
  lost_api=
  if [ "$l_holder" = "$POD_NAME" ]; then
    # ours (also after a restart: nobody took it meanwhile, or the compare-and-swap fails)
    if [ "$role" != primary ] || [ $(($(now_ms) - renewed_at)) -ge "$RENEW_MS" ]; then
      # a failed renewal: the next round reads the Lease again (the fence above has the last word)
      renew || return 0
      # the members may have changed (a scale): their slots, the synchronous quorum
      if [ "$role" = primary ]; then
        ensure_slots || say "cannot create the standbys' replication slots"
        set_sync || say "cannot set synchronous_standby_names"
      fi
    fi
    if [ "$role" != primary ] || [ "$ps_recovery" != f ]; then
      promote "holds the Lease" || return 0
      # a slow promotion must not eat the time until the fence
      [ $(($(now_ms) - renewed_at)) -lt "$RENEW_MS" ] || renew || :
    fi
    state primary
    label primary
    return 0
  fi
  not_primary "the Lease is held by ${l_holder:-nobody}"
  if [ -z "$l_holder" ] || [ $((_t - seen_at)) -ge "$LEASE_MS" ]; then
    elect
    return 0
  fi
  _tk_primary=$(fqdn_of "$l_holder") || { say "the Lease holder $l_holder is not a member"; return 0; }
  follow "$_tk_primary"
}

log "agent of $POD_NAME: failover $([ "$FAILOVER" = 1 ] && echo "by Lease $LEASE_NAME (${LEASE_SECONDS}s)" || echo "off"), commits wait for ${SYNC_WAIT:-0} standby(s), failover needs $NEED of $REPLICAS members"
state none
# wait INTERVAL seconds, or less when the Lease is due sooner (a renewal, an expiry); a standby
# whose receiver stopped streaming (its primary shut down: a switchover moves the Lease next)
# looks again every FAST_MS for FAST_FOR_MS; a handover request ends any wait
FAST_MS=200 FAST_FOR_MS=10000
fast_since= own_wr=
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
    if [ "$role" != primary ] && [ "${own_wr:-}" != streaming ]; then
      [ -n "$fast_since" ] || fast_since=$(now_ms)
      [ $(($(now_ms) - fast_since)) -ge "$FAST_FOR_MS" ] || [ "$_np_ms" -le "$FAST_MS" ] || _np_ms=$FAST_MS
    else
      fast_since=
    fi
  fi
  _np_end=$(($(now_ms) + _np_ms))
  while [ ! -f "$RUN_DIR/handover.request" ] || [ -n "$stopping" ]; do
    _np_left=$((_np_end - $(now_ms)))
    [ "$_np_left" -gt 0 ] || return 0
    [ "$_np_left" -le 250 ] || _np_left=250
    pause "$((_np_left / 1000)).$(printf '%03d' $((_np_left % 1000)))"
  done
}

while :; do
  tick
  nap
done
