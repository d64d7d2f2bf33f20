#!/bin/sh
# start.sh: the server container's command, run on every start of the container.
#  1. An empty data directory is seeded first:
#     - a new cluster: only ordinal 0, and only while the Lease was never held (it takes the
#       Lease first, so this happens once per cluster; with failover off: while no other
#       member answers) initializes it, with the users;
#     - every other member clones a ready member (a replica within MAX_LAG, else the primary)
#       and waits while there is none: MySQL with the CLONE plugin, MariaDB with a
#       mariadb-backup streamed by the donor's sidecar (engine.sh: eng_seed).
#  2. The server starts read-only with replication stopped (my.cnf), server_id = base + ordinal,
#     report_host = the pod's FQDN. The agent decides what it is.
#     Until the server first answers, the liveness probe counts its start as alive for
#     STARTUP_SECONDS (the startup probe's budget): after a seed the server recovers the
#     clone in this container's life, where the startup probe does not run again.
#  3. It stays the server's parent: when the agent asks for a re-clone (RESEED, e.g. the primary
#     purged transactions this member lacks) it stops the server, seeds afresh and starts it
#     again; any other exit ends the container (the kubelet restarts it).
# Env: SERVER_ID_BASE STARTUP_SECONDS + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

self=$(self_fqdn) || exit 1
ordinal=$(ordinal)
server_id=$((SERVER_ID_BASE + ordinal))
pid= stopping=
trap 'stopping=1; [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null' TERM INT

client_files
mkdir -p "$DATA_ROOT/tmp"
wait_resolvable "$self" || :

# may this pod create a new cluster?
may_bootstrap() {
  [ "$ordinal" -eq 0 ] || { why="waiting for a ready member to clone"; return 1; }
  [ ! -f "$RESEED" ] || { why="re-cloning: waiting for a ready member"; return 1; }
  if [ "$FAILOVER" = 1 ]; then
    lease_take_new
  else
    # failover off: nothing records that the cluster exists; another member that answers has
    # the data (pick_donor then clones it)
    [ "$REPLICAS" -eq 1 ] && return 0
    for _p in $PEERS; do
      [ "$_p" = "$self" ] && continue
      if read_only "$_p" >/dev/null 2>&1; then why="$(pod_of "$_p") answers: cloning it"; return 1; fi
    done
  fi
}

bootstrap() {
  log "initializing a new cluster: $ENGINE, users root, $REPL_USER${APP_USER:+, $APP_USER (database $APP_DATABASE)}"
  rm -rf "$DATA_ROOT/data.new"
  (umask 077 && eng_users_sql >"$RUN_DIR/init.sql") || return 1
  eng_init_datadir "$DATA_ROOT/data.new" "$RUN_DIR/init.sql"
  _rc=$?
  rm -f "$RUN_DIR/init.sql"
  if [ "$_rc" -eq 0 ]; then
    mv "$DATA_ROOT/data.new" "$DATA_DIR" && printf 'bootstrap %s\n' "$(date -u +%FT%TZ)" >"$SEEDED" && return 0
  fi
  # nothing was created: give the Lease back (never held again), so that a fixed
  # configuration can bootstrap on the next start
  rm -rf "$DATA_ROOT/data.new"
  if [ "$FAILOVER" = 1 ] && lease_read && [ "$l_holder" = "$POD_NAME" ]; then
    kube patch lease "$LEASE_NAME" --type=json -p "[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"$l_rv\"},{\"op\":\"remove\",\"path\":\"/spec/holderIdentity\"},{\"op\":\"remove\",\"path\":\"/spec/acquireTime\"}]" >/dev/null &&
      log "initialization failed: the Lease is free again"
  fi
  return 1
}

# seed_from DONOR: eng_seed leaves the data in DATA_ROOT/data.new (MariaDB: a prepared backup,
# moved into place) or in DATA_DIR itself (MySQL: a clone is finished on the path it ran to)
seed_from() {
  log "seeding from $(pod_of "$1")"
  eng_seed "$1" || { rm -rf "$DATA_ROOT/data.new"; return 1; }
  if [ ! -d "$DATA_DIR" ]; then mv "$DATA_ROOT/data.new" "$DATA_DIR" || return 1; fi
  printf 'clone of %s %s\n' "$(pod_of "$1")" "$(date -u +%FT%TZ)" >"$SEEDED"
}

# a complete data directory, whatever it takes
prepare() {
  if [ -f "$RESEED" ]; then
    log "re-cloning ($(read_file "$RESEED")): removing the old data"
    rm -rf "$DATA_DIR" "$SEEDED" "$DATA_ROOT/seed-gtid"
  fi
  if [ -d "$DATA_DIR" ] && [ -f "$SEEDED" ]; then return 0; fi
  if [ -d "$DATA_DIR" ]; then
    log "the data directory was never completed (an interrupted seed): starting over"
    rm -rf "$DATA_DIR"
  fi
  : >"$SEEDING"
  said= said_at=0
  while [ -z "$stopping" ]; do
    why=
    if may_bootstrap; then
      bootstrap && break
    elif donor=$(pick_donor); then
      seed_from "$donor" && break
    fi
    if [ -n "$why" ] && { [ "$why" != "$said" ] || [ $(($(now) - said_at)) -ge 30 ]; }; then
      log "$why"
      said=$why said_at=$(now)
    fi
    pause 2
  done
  rm -f "$RESEED"
}

while :; do
  prepare
  [ -z "$stopping" ] || exit 0
  rm -f "$SEEDING"
  log "starting $SERVER: server_id $server_id, report_host $self (read-only; the agent decides the role)"
  # shellcheck disable=SC2046
  "$SERVER" --defaults-file="$CONFIG_FILE" --server-id="$server_id" --report-host="$self" $(eng_server_args) &
  pid=$!
  # the liveness probe gives a server that has not answered yet STARTUP_SECONDS from here (a
  # clone's recovery of a large dataset, within this container's life: no startupProbe again)
  printf '%s %s\n' "$pid" "$(now)" >"$STARTING"
  rc=0
  while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break # a trapped signal interrupted wait: the server runs on
  done
  pid=
  [ -z "$stopping" ] || exit "$rc"
  if [ -f "$RESEED" ]; then
    log "$SERVER stopped for a re-clone"
    continue
  fi
  log "$SERVER exited ($rc)"
  exit "$rc"
done
