# lib.sh: the mysql preset's helpers for the chart's scripts (sourced, POSIX sh), on top of the
# library's common.sh; engine.sh holds what differs between MySQL and MariaDB. Uses what both
# official images have: their server's client and admin tools, timeout, date, sed, mv, rm.
# Env: POD_NAME PEERS REPLICAS SERVER_PORT RUN_DIR DATA_ROOT CONFIG_FILE REPL_USER ROOT_PASSWORD
#      REPLICATION_PASSWORD [APP_USER APP_DATABASE APP_PASSWORD] + the Lease's (agent.sh)

[ -n "${COMMON_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/common.sh"
. "${SCRIPTS_DIR:-/scripts}/engine.sh"
LIB_LOADED=1

DATA_DIR=$DATA_ROOT/data
ROOT_CNF=$RUN_DIR/root.cnf # root@localhost through the socket (this pod's own scripts)
REPL_CNF=$RUN_DIR/repl.cnf # the replication user, to the other members
SEEDED=$DATA_ROOT/seeded   # the data directory is complete (bootstrapped or cloned)
RESEED=$DATA_ROOT/reseed   # the agent asks start.sh for a fresh clone (holds the reason)
SEEDING=$RUN_DIR/seeding   # start.sh is bootstrapping or cloning (the server may be down)
STARTING=$RUN_DIR/starting # "<pid> <epoch>": start.sh started the server; gone once it answered

now() { date +%s; }
now_ms() { date +%s%3N; }

# cnf_quote VALUE: VALUE as a double-quoted option-file value
cnf_quote() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }

# sql_quote VALUE: VALUE as a single-quoted SQL string
sql_quote() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"; }

# client_files: the client option files (mode 0600, memory-backed volume): passwords reach the
# clients through them, never through a command line or the environment the clients read
client_files() {
  [ -s "$ROOT_CNF" ] && [ -s "$REPL_CNF" ] && return 0
  (
    umask 077
    printf '[client]\nuser=root\npassword=%s\nsocket=%s\n%s\n' "$(cnf_quote "$ROOT_PASSWORD")" \
      "$RUN_DIR/mysqld.sock" "$CLIENT_EXTRA" >"$ROOT_CNF.$$" && mv -f "$ROOT_CNF.$$" "$ROOT_CNF"
    printf '[client]\nuser=%s\npassword=%s\nport=%s\nconnect-timeout=2\n%s\n' "$REPL_USER" \
      "$(cnf_quote "$REPLICATION_PASSWORD")" "$SERVER_PORT" "$CLIENT_EXTRA" >"$REPL_CNF.$$" &&
      mv -f "$REPL_CNF.$$" "$REPL_CNF"
  )
}

# sql SQL: run SQL on this pod's server as root@localhost; rows tab-separated, no header
sql() { timeout "${SQL_TIMEOUT:-10}" "$CLIENT" --defaults-extra-file="$ROOT_CNF" -N -B -e "$1"; }

# sql_in: SQL from stdin (statements that carry a password)
sql_in() { timeout "${SQL_TIMEOUT:-10}" "$CLIENT" --defaults-extra-file="$ROOT_CNF" -N -B; }

# peer_sql HOST SQL: SQL on another member, as the replication user
peer_sql() { timeout 5 "$CLIENT" --defaults-extra-file="$REPL_CNF" -h "$1" -N -B -e "$2"; }

# server_up: this pod's server answers
server_up() { [ "$(sql 'SELECT 1' 2>/dev/null)" = 1 ]; }

# app_users_sql: the optional application database and user (part of eng_users_sql)
app_users_sql() {
  [ -n "${APP_USER:-}" ] || return 0
  printf 'CREATE DATABASE IF NOT EXISTS `%s`;\n' "$APP_DATABASE"
  printf "CREATE USER %s@'%%' IDENTIFIED BY %s;\n" "$(sql_quote "$APP_USER")" "$(sql_quote "$APP_PASSWORD")"
  printf "GRANT ALL PRIVILEGES ON \`%s\`.* TO %s@'%%';\n" "$APP_DATABASE" "$(sql_quote "$APP_USER")"
}

# replica_status [HOST]: this pod's (or HOST's) replication threads and what it executed, in
# one connection (a peer that does not answer within a second is skipped). Sets rs_exec (GTIDs
# executed), rs_io rs_sql (Yes|No|Connecting|""), rs_lag (seconds or NULL), rs_source (the host
# it follows, "" when not a replica), rs_received (GTIDs received), rs_io_errno rs_io_error
# rs_sql_errno rs_sql_error. 1 when the server does not answer. Column names of both servers
# (Slave_*/Replica_*).
replica_status() {
  rs_exec= rs_io= rs_sql= rs_lag= rs_source= rs_received= rs_io_errno=0 rs_io_error= rs_sql_errno=0 rs_sql_error=
  _rs_q="SELECT $GTID_EXECUTED_SQL AS chartgen_executed; SHOW REPLICA STATUS"
  if [ -n "${1:-}" ]; then
    _rs_out=$(timeout 5 "$CLIENT" --defaults-extra-file="$REPL_CNF" --connect-timeout=1 -h "$1" -E -e "$_rs_q" 2>/dev/null) || return 1
  else
    _rs_out=$(timeout 10 "$CLIENT" --defaults-extra-file="$ROOT_CNF" -E -e "$_rs_q" 2>/dev/null) || return 1
  fi
  _rs_key=
  while IFS= read -r _rs_l; do
    case $_rs_l in
    *'*** '*) continue ;;
    *[A-Za-z_]': '* | *[A-Za-z_]':')
      _rs_key=${_rs_l%%:*}
      _rs_key=${_rs_key##* }
      _rs_v=${_rs_l#*:}
      _rs_v=${_rs_v# }
      ;;
    *)
      # a GTID set continued on the next line (MySQL prints them with newlines)
      [ "$_rs_key" != Retrieved_Gtid_Set ] || rs_received=$rs_received$_rs_l
      continue
      ;;
    esac
    case $_rs_key in
    chartgen_executed) rs_exec=$_rs_v ;;
    Slave_IO_Running | Replica_IO_Running) rs_io=$_rs_v ;;
    Slave_SQL_Running | Replica_SQL_Running) rs_sql=$_rs_v ;;
    Seconds_Behind_Master | Seconds_Behind_Source) rs_lag=$_rs_v ;;
    Master_Host | Source_Host) rs_source=$_rs_v ;;
    Gtid_IO_Pos | Retrieved_Gtid_Set) rs_received=$_rs_v ;;
    Last_IO_Errno) rs_io_errno=$_rs_v ;;
    Last_IO_Error) rs_io_error=$_rs_v ;;
    Last_SQL_Errno) rs_sql_errno=$_rs_v ;;
    Last_SQL_Error) rs_sql_error=$_rs_v ;;
    esac
  done <<EOF
$_rs_out
EOF
  return 0
}

# gtid_state [HOST]: what this pod's (or HOST's) server executed (g_exec) and, as a replica,
# received (g_recv) and whether it still receives (g_io: Yes|Connecting|No|""); 1 when it does
# not answer
gtid_state() {
  g_exec= g_recv= g_io=
  replica_status "${1:-}" || return 1
  g_exec=$rs_exec g_recv=$rs_received g_io=$rs_io
}

# read_only [HOST]: prints 1 when the server refuses writes, 0 when it takes them
read_only() {
  if [ -n "${1:-}" ]; then peer_sql "$1" "$ENG_READ_ONLY_SQL"; else sql "$ENG_READ_ONLY_SQL"; fi
}

# a member that can give new members its data: the primary (writable), or a replica whose
# threads run within MAX_LAG seconds; replicas first (the primary keeps serving). Prints its
# FQDN; 1 when none answers.
pick_donor() {
  _pd_primary=
  for _pd_p in $PEERS; do
    case $_pd_p in "$POD_NAME".*) continue ;; esac
    _pd_ro=$(read_only "$_pd_p" 2>/dev/null) || continue
    if [ "$_pd_ro" = 0 ]; then _pd_primary=$_pd_p; continue; fi
    replica_status "$_pd_p" || continue
    case $rs_lag in '' | NULL | *[!0-9]*) continue ;; esac
    if [ "$rs_io" = Yes ] && [ "$rs_sql" = Yes ] && [ "$rs_lag" -le "${MAX_LAG:-30}" ]; then
      printf '%s' "$_pd_p"
      return 0
    fi
  done
  [ -n "$_pd_primary" ] || return 1
  printf '%s' "$_pd_primary"
}
