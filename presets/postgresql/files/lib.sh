# lib.sh: the postgresql preset's helpers for the chart's scripts (sourced, POSIX sh), on top of
# the library's common.sh (peers, the Lease) and decide.sh (the decisions). Uses what the
# official image has: PostgreSQL's programs in /usr/lib/postgresql/<major>/bin, timeout, date,
# sed, mv, rm.
# Env: POD_NAME PEERS REPLICAS SERVER_PORT RUN_DIR DATA_ROOT CONFIG_DIR REPL_USER
#      POSTGRES_PASSWORD REPLICATION_PASSWORD [APP_USER APP_DATABASE APP_PASSWORD] + the Lease's

[ -n "${COMMON_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/common.sh"
. "${SCRIPTS_DIR:-/scripts}/decide.sh"
LIB_LOADED=1

PG_BIN=/usr/lib/postgresql/${PG_MAJOR:-17}/bin
PGDATA=$DATA_ROOT/pgdata
# markers outside PGDATA (pg_basebackup and pg_rewind copy everything inside it)
SEEDED=$DATA_ROOT/seeded   # the data directory is complete (initialized or copied)
RESEED=$DATA_ROOT/reseed   # the agent asks start.sh for a fresh copy (holds the reason)
REWIND=$DATA_ROOT/rewind   # the agent asks start.sh to rewind to a primary (holds its FQDN)
SEEDING=$RUN_DIR/seeding   # start.sh is initializing, copying or rewinding (the server is down)
STARTING=$RUN_DIR/starting # "<pid> <epoch>": start.sh started the server; gone once it answered
# the passwords of postgres and the replication user, for every member (0600, memory-backed
# volume): they reach the clients through this file, never a command line or the environment
export PGPASSFILE="$RUN_DIR/pgpass"
export PGCONNECT_TIMEOUT=3

now() { date +%s; }
now_ms() { date +%s%3N; }

# sql_quote VALUE: VALUE as a single-quoted SQL string
sql_quote() { printf "'%s'" "$(printf '%s' "$1" | sed -e "s/'/''/g")"; }

# pgpass_escape VALUE: VALUE as a field of a password file (\ and : escaped)
pgpass_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/:/\\:/g'; }

# pgpass_file: the password file (once per pod start)
pgpass_file() {
  [ -s "$PGPASSFILE" ] && return 0
  (
    umask 077
    printf '*:*:*:postgres:%s\n*:*:*:%s:%s\n' "$(pgpass_escape "$POSTGRES_PASSWORD")" "$REPL_USER" \
      "$(pgpass_escape "$REPLICATION_PASSWORD")" >"$PGPASSFILE.$$" && mv -f "$PGPASSFILE.$$" "$PGPASSFILE"
  )
}

# psql_at HOST USER SQL: SQL on HOST's server (a directory: its socket) as USER; rows
# |-separated, no header; 1 on any error
psql_at() {
  timeout "${SQL_TIMEOUT:-10}" "$PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 -w -h "$1" -p "$SERVER_PORT" -U "$2" \
    -d postgres -c "$3"
}

# psql_file FILE: FILE (- = stdin) on this pod's server as postgres through the socket,
# stopping at its first error
psql_file() {
  timeout "${SQL_TIMEOUT:-10}" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -w -h "$RUN_DIR" -p "$SERVER_PORT" -U postgres \
    -d postgres -f "$1"
}

# sql SQL: this pod's server as the postgres superuser, through the socket (peer)
sql() { psql_at "$RUN_DIR" postgres "$1"; }

# peer_sql HOST SQL: another member, as the replication user (pg_monitor)
peer_sql() { SQL_TIMEOUT=5 psql_at "$1" "$REPL_USER" "$2"; }

# super_sql HOST SQL: another member, as postgres (what only a superuser may read)
super_sql() { SQL_TIMEOUT=10 psql_at "$1" postgres "$2"; }

# server_up: this pod's server answers
server_up() { [ "$(sql 'SELECT 1' 2>/dev/null)" = 1 ]; }

# the state of a server in one query: recovery, WAL positions, timeline, its WAL receiver
PG_STATE_SQL="SELECT pg_is_in_recovery(),
  coalesce(pg_last_wal_receive_lsn()::text, ''), coalesce(pg_last_wal_replay_lsn()::text, ''),
  CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_current_wal_lsn()::text END,
  CASE WHEN pg_is_in_recovery()
    THEN greatest((SELECT received_tli FROM pg_stat_wal_receiver WHERE status = 'streaming'),
                  (SELECT timeline_id FROM pg_control_checkpoint()),
                  (SELECT max(('x' || substr(name, 1, 8))::bit(32)::int) FROM pg_ls_waldir()
                    WHERE name ~ '^[0-9A-F]{8}[.]history$'))
    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
  coalesce((SELECT status FROM pg_stat_wal_receiver), ''), coalesce((SELECT sender_host FROM pg_stat_wal_receiver), ''),
  CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() THEN 0
    ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::int, 0) END"

# pg_state [HOST]: this pod's (or HOST's) server: ps_recovery (t|f), ps_received ps_replayed
# ps_current (LSNs, "" when none), ps_tli (its timeline), ps_wr (WAL receiver status: streaming,
# ..., "" = none), ps_sender (the host it receives from), ps_lag (seconds of received WAL not
# replayed yet), ps_end (the end of its WAL: current on a primary, else the later of received
# and replayed). 1 when it does not answer.
pg_state() {
  if [ -n "${1:-}" ]; then
    _ps_out=$(peer_sql "$1" "$PG_STATE_SQL" 2>/dev/null) || return 1
  else
    _ps_out=$(sql "$PG_STATE_SQL" 2>/dev/null) || return 1
  fi
  pg_state_of "$_ps_out"
}

# pg_state_of ROW: the ps_* variables from one answer to PG_STATE_SQL (1 when it is empty)
pg_state_of() {
  [ -n "$1" ] || return 1
  IFS='|' read -r ps_recovery ps_received ps_replayed ps_current ps_tli ps_wr ps_sender ps_lag <<EOF
$1
EOF
  if [ "$ps_recovery" = f ]; then ps_end=$ps_current; else ps_end=$(lsn_max "$ps_received" "$ps_replayed"); fi
}

# timeline_history HOST TLI: HOST's history file of timeline TLI (none for timeline 1)
timeline_history() {
  [ "$2" -gt 1 ] || return 0
  super_sql "$1" "SELECT pg_read_file('pg_wal/' || lpad(upper(to_hex($2)), 8, '0') || '.history')"
}

# conninfo PRIMARY_FQDN: how a standby of this pod reaches PRIMARY (its password: the file)
conninfo() {
  printf 'host=%s port=%s user=%s application_name=%s passfile=%s connect_timeout=3 keepalives_idle=5 keepalives_interval=2 keepalives_count=3' \
    "$1" "$SERVER_PORT" "$REPL_USER" "$POD_NAME" "$PGPASSFILE"
}

# a member that can give new members its data: a standby streaming within MAX_LAG, else the
# primary; standbys first (the primary keeps serving). Prints its FQDN; 1 when none answers.
pick_donor() {
  _pd_primary=
  for _pd_p in $PEERS; do
    case $_pd_p in "$POD_NAME".*) continue ;; esac
    pg_state "$_pd_p" || continue
    if [ "$ps_recovery" = f ]; then _pd_primary=$_pd_p; continue; fi
    if [ "$ps_wr" = streaming ] && [ "${ps_lag:-0}" -le "${MAX_LAG:-30}" ]; then
      printf '%s' "$_pd_p"
      return 0
    fi
  done
  [ -n "$_pd_primary" ] || return 1
  printf '%s' "$_pd_primary"
}

# stop_server [fast|immediate]: stop this pod's postmaster (start.sh starts it again as a
# standby, unless the pod is stopping); the same process namespace lets pg_ctl signal it
stop_server() {
  [ -f "$PGDATA/postmaster.pid" ] || return 0
  if [ "${1:-fast}" = fast ] && "$PG_BIN/pg_ctl" stop -D "$PGDATA" -m fast -w -t 10 >/dev/null 2>&1; then
    return 0
  fi
  "$PG_BIN/pg_ctl" stop -D "$PGDATA" -m immediate -w -t 10 >/dev/null 2>&1
}
