#!/bin/sh
# start.sh: the server container's command, run on every start of the container.
#  1. An empty data directory is seeded first:
#     - a new cluster: only ordinal 0, and only while the Lease was never held (it takes the
#       Lease first, so this happens once per cluster; with failover off: while no other member
#       answers), runs initdb (data checksums: pg_rewind always works), then creates the roles
#       and runs the chart's initdbScripts on a server that listens on the pod's socket only;
#     - every other member copies a member with pg_basebackup (a standby streaming within
#       MAX_LAG, else the primary) and waits while there is none.
#     The image's entrypoint is bypassed: it would run initdb on any empty volume.
#  2. The server always starts in recovery (standby.signal) following nobody; the agent decides
#     what it is (promotes the Lease holder, points standbys at it). A server that stops (the
#     agent fences a primary by stopping it, or it crashed) starts again the same way: a
#     returning old primary never starts as a primary.
#  3. A member whose server last ran as the primary (stopped by its agent's fence, by a
#     switchover, or killed) is held until the agent says: start it as it is (it still holds the
#     Lease) or rewind it to the new primary first. pg_rewind must see it as the primary it was:
#     started as a standby first, it would replay its own extra WAL and end in a restartpoint
#     before it, where pg_rewind finds "no rewind required".
#  4. When the agent asks, the stopped server is first rewound to the primary (REWIND: pg_rewind)
#     or copied afresh (RESEED; also when a rewind fails).
# Until the server first answers, the liveness probe counts its start as alive for
# STARTUP_SECONDS (crash recovery, or replaying a large copy, happens in this container's life).
# Env: STARTUP_SECONDS [APP_USER APP_DATABASE APP_PASSWORD] + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

self=$(self_fqdn) || exit 1
ordinal=$(ordinal)
pid= stopping= stream_from=
# fast shutdown (the image's STOPSIGNAL): clients are disconnected, standbys get everything
trap 'stopping=1; [ -z "$pid" ] || kill -INT "$pid" 2>/dev/null' TERM INT

pgpass_file
wait_resolvable "$self" || :

# may this pod create a new cluster?
may_bootstrap() {
  [ "$ordinal" -eq 0 ] || { why="waiting for a member to copy (pg_basebackup)"; return 1; }
  [ ! -f "$RESEED" ] || { why="re-seeding: waiting for a member to copy"; return 1; }
  if [ "$FAILOVER" = 1 ]; then
    lease_take_new
  else
    # failover off: nothing records that the cluster exists; another member that answers has
    # the data (pick_donor then copies it)
    [ "$REPLICAS" -eq 1 ] && return 0
    for _p in $PEERS; do
      [ "$_p" = "$self" ] && continue
      if pg_state "$_p"; then why="$(pod_of "$_p") answers: copying it"; return 1; fi
    done
  fi
}

# the roles of a new cluster (through psql's stdin: the passwords on no command line)
roles_sql() {
  printf 'CREATE ROLE "%s" WITH LOGIN REPLICATION PASSWORD %s;\n' "$REPL_USER" "$(sql_quote "$REPLICATION_PASSWORD")"
  printf 'GRANT pg_monitor TO "%s";\n' "$REPL_USER"
  [ -n "${APP_USER:-}" ] || return 0
  printf 'CREATE ROLE "%s" WITH LOGIN PASSWORD %s;\n' "$APP_USER" "$(sql_quote "$APP_PASSWORD")"
  printf 'CREATE DATABASE "%s" OWNER "%s";\n' "$APP_DATABASE" "$APP_USER"
}

# initialize DIR: the roles and the chart's initdbScripts, on a server that listens on this
# pod's socket only and is stopped again (nothing else can reach it meanwhile)
initialize() {
  "$PG_BIN/pg_ctl" start -D "$1" -w -t 120 -l "$RUN_DIR/init-server.log" \
    -o "-c listen_addresses='' -c unix_socket_directories='$RUN_DIR' -c port=$SERVER_PORT" >/dev/null 2>&1 ||
    { log "the new cluster's server did not start: $(tail -n 3 "$RUN_DIR/init-server.log")"; return 1; }
  _in_rc=0
  roles_sql | SQL_TIMEOUT=60 psql_file - >"$RUN_DIR/init.log" 2>&1 || _in_rc=1
  [ "$_in_rc" -eq 0 ] || log "creating the roles failed: $(tail -n 3 "$RUN_DIR/init.log")"
  for _in_f in "$CONFIG_DIR"/initdb-*.sql; do
    [ "$_in_rc" -eq 0 ] && [ -f "$_in_f" ] || continue
    log "running ${_in_f##*/initdb-}"
    SQL_TIMEOUT=3600 psql_file "$_in_f" >"$RUN_DIR/init.log" 2>&1 ||
      { _in_rc=1; log "${_in_f##*/initdb-} failed: $(tail -n 3 "$RUN_DIR/init.log")"; }
  done
  "$PG_BIN/pg_ctl" stop -D "$1" -m fast -w -t 120 >/dev/null 2>&1 || _in_rc=1
  return "$_in_rc"
}

bootstrap() {
  log "initializing a new cluster: roles postgres, $REPL_USER${APP_USER:+, $APP_USER (database $APP_DATABASE)}"
  rm -rf "$PGDATA.new"
  (umask 077 && printf '%s\n' "$POSTGRES_PASSWORD" >"$RUN_DIR/pw") || return 1
  _rc=1
  if "$PG_BIN/initdb" -D "$PGDATA.new" --username=postgres --pwfile="$RUN_DIR/pw" --data-checksums \
    --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$RUN_DIR/initdb.log" 2>&1; then
    initialize "$PGDATA.new" && _rc=0
  else
    log "initdb failed: $(tail -n 5 "$RUN_DIR/initdb.log")"
  fi
  rm -f "$RUN_DIR/pw"
  if [ "$_rc" -eq 0 ]; then
    mv "$PGDATA.new" "$PGDATA" && printf 'initdb %s\n' "$(date -u +%FT%TZ)" >"$SEEDED" && return 0
  fi
  # nothing was created: give the Lease back (never held again), so that a fixed
  # configuration can initialize on the next start
  rm -rf "$PGDATA.new"
  if [ "$FAILOVER" = 1 ] && lease_read && [ "$l_holder" = "$POD_NAME" ]; then
    kube patch lease "$LEASE_NAME" --type=json -p "[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"$l_rv\"},{\"op\":\"remove\",\"path\":\"/spec/holderIdentity\"},{\"op\":\"remove\",\"path\":\"/spec/acquireTime\"}]" >/dev/null &&
      log "initialization failed: the Lease is free again"
  fi
  return 1
}

# seed_from DONOR: a base backup of DONOR, its WAL streamed alongside
seed_from() {
  log "copying $(pod_of "$1") (pg_basebackup)"
  rm -rf "$PGDATA.new"
  if ! "$PG_BIN/pg_basebackup" -h "$1" -p "$SERVER_PORT" -U "$REPL_USER" -w -D "$PGDATA.new" -X stream \
    -c fast >"$RUN_DIR/basebackup.log" 2>&1; then
    log "pg_basebackup of $(pod_of "$1") failed: $(tail -n 3 "$RUN_DIR/basebackup.log")"
    rm -rf "$PGDATA.new"
    return 1
  fi
  mv "$PGDATA.new" "$PGDATA" || return 1
  printf 'copy of %s %s\n' "$(pod_of "$1")" "$(date -u +%FT%TZ)" >"$SEEDED"
}

# a complete data directory, whatever it takes
prepare() {
  if [ -f "$RESEED" ]; then
    log "re-seeding ($(read_file "$RESEED")): removing the old data"
    rm -rf "$PGDATA" "$SEEDED" "$DATA_ROOT/rewound"
  fi
  if [ -f "$PGDATA/PG_VERSION" ] && [ -f "$SEEDED" ]; then return 0; fi
  if [ -d "$PGDATA" ]; then
    log "the data directory was never completed (an interrupted seed): starting over"
    rm -rf "$PGDATA"
  fi
  said= said_at=0
  while [ -z "$stopping" ]; do
    why=
    if may_bootstrap; then
      bootstrap && break
    elif donor=$(pick_donor); then
      seed_from "$donor" && break
    else
      why=${why:-"no member to copy answers yet"}
    fi
    if [ -n "$why" ] && { [ "$why" != "$said" ] || [ $(($(now) - said_at)) -ge 30 ]; }; then
      log "$why"
      said=$why said_at=$(now)
    fi
    pause 2
  done
  rm -f "$RESEED"
}

# was_primary: the server last ran as a primary (shut down out of recovery, or crashed as one); a
# fresh copy or a rewound directory (backup_label) recovers as a standby whatever its control
# file says
was_primary() {
  [ ! -f "$PGDATA/backup_label" ] || return 1
  _wp=$("$PG_BIN/pg_controldata" -D "$PGDATA" 2>/dev/null | sed -n 's/^Database cluster state: *//p')
  case $_wp in "shut down" | "in production") return 0 ;; esac
  return 1
}

# hold: wait for the agent's word (RUN_DIR/release: start as it is; REWIND: rewind first)
hold() {
  rm -f "$RUN_DIR/release"
  : >"$RUN_DIR/held"
  log "this member last ran as the primary: waiting for the agent (start it as it is, or rewind it to the new primary)"
  until [ -f "$RUN_DIR/release" ] || [ -f "$REWIND" ] || [ -n "$stopping" ]; do pause 1; done
  rm -f "$RUN_DIR/held" "$RUN_DIR/release"
}

# rewind_if_asked: the agent found WAL here that the primary's history does not have (an old
# primary's unreplicated commits): pg_rewind to the primary, or a fresh copy when that fails
rewind_if_asked() {
  [ -f "$REWIND" ] || return 0
  _rw_source=$(read_file "$REWIND") || _rw_source=
  rm -f "$REWIND"
  [ -n "$_rw_source" ] || return 0
  printf "include '%s/postgresql.conf'\n" "$CONFIG_DIR" >"$PGDATA/postgresql.conf"
  log "rewinding to $(pod_of "$_rw_source") (pg_rewind)"
  if "$PG_BIN/pg_rewind" -D "$PGDATA" --source-server="host=$_rw_source port=$SERVER_PORT user=postgres dbname=postgres connect_timeout=5" \
    >"$RUN_DIR/rewind.log" 2>&1; then
    log "rewound: $(tail -n 1 "$RUN_DIR/rewind.log")"
    # the agent re-seeds a member that still cannot stream from the same primary
    printf '%s\n' "$_rw_source" >"$DATA_ROOT/rewound"
    # a rewound member is consistent only at the source's WAL position of the rewind: it
    # streams from the source from its start (without it, it would not even accept the agent's
    # connections)
    stream_from=$_rw_source
    return 0
  fi
  log "pg_rewind failed ($(tail -n 2 "$RUN_DIR/rewind.log" | tr '\n' ' ')): re-seeding"
  printf 'pg_rewind to %s failed\n' "$(pod_of "$_rw_source")" >"$RESEED"
  prepare
}

# floor: the options standby_floor (decide.sh) gives this data directory: each setting a standby
# must not run below, the chart's value against the primary's last (pg_controldata)
floor() {
  _fl_cd=$("$PG_BIN/pg_controldata" -D "$PGDATA" 2>/dev/null) || return 0
  set --
  for _fl in max_connections:max_connections max_worker_processes:max_worker_processes \
    max_wal_senders:max_wal_senders max_prepared_transactions:max_prepared_xacts \
    max_locks_per_transaction:max_locks_per_xact; do
    set -- "$@" "${_fl%%:*}" "$("$PG_BIN/postgres" -D "$PGDATA" -C "${_fl%%:*}" 2>/dev/null)" \
      "$(printf '%s\n' "$_fl_cd" | sed -n "s/^${_fl#*:} setting: *//p")"
  done
  standby_floor "$@"
}

while :; do
  : >"$SEEDING"
  prepare
  [ -z "$stopping" ] || exit 0
  if was_primary; then hold; fi
  [ -z "$stopping" ] || exit 0
  rewind_if_asked
  [ -z "$stopping" ] || exit 0
  # in recovery, following nobody until the agent says whom (a primary_conninfo left from
  # before would stream from whoever it named); a rewound member: the member it was rewound to
  sed -i -e '/^primary_conninfo/d' -e '/^primary_slot_name/d' "$PGDATA/postgresql.auto.conf" 2>/dev/null || :
  # the chart's settings for every server of this data directory, also the single-user one
  # pg_rewind runs for crash recovery (with initdb's defaults it would recycle the WAL a rewind
  # needs)
  printf "include '%s/postgresql.conf'\n" "$CONFIG_DIR" >"$PGDATA/postgresql.conf"
  if [ -n "$stream_from" ]; then
    printf "primary_conninfo = '%s'\n" "$(conninfo "$stream_from")" >>"$PGDATA/postgresql.auto.conf"
    stream_from=
  fi
  rm -f "$PGDATA/recovery.signal"
  : >"$PGDATA/standby.signal"
  rm -f "$SEEDING"
  raised=$(floor)
  [ -z "$raised" ] || log "settings at the primary's last values, above the chart's (a standby may not run below them): $raised"
  log "starting postgres as a standby following nobody (the agent decides the role)"
  # shellcheck disable=SC2086 # options of digits and names only
  "$PG_BIN/postgres" -D "$PGDATA" -c cluster_name="$POD_NAME" $raised &
  pid=$!
  printf '%s %s\n' "$pid" "$(now)" >"$STARTING"
  rc=0
  while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break # a trapped signal interrupted wait: the server runs on
  done
  pid=
  [ -z "$stopping" ] || exit "$rc"
  # a primary handing over before its pod stops: nothing starts again (prestop.sh)
  while [ -f "$RUN_DIR/handover.request" ] && [ -z "$stopping" ]; do pause 1; done
  [ -z "$stopping" ] || exit 0
  log "postgres stopped ($rc): starting it again"
  pause 1
done
