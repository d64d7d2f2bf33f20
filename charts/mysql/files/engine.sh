# engine.sh: what differs between the servers, generated for this chart's flavor (mysql).
# Sourced by lib.sh; everything else is shared. Each function prints SQL or runs the server's
# own tools; the callers run the SQL (lib.sh: sql, sql_in, peer_sql).
# MySQL 8.4: mysqld, the mysql client, CHANGE REPLICATION SOURCE ... SOURCE_AUTO_POSITION=1
# (8.4 removed CHANGE MASTER, SHOW SLAVE STATUS, RESET MASTER, SHOW MASTER STATUS), GTID sets
# compared by GTID_SUBSET, super_read_only (binds SUPER too), the semisync_source/replica
# plugins waiting for floor(N/2) replicas, replicas seeded by the CLONE plugin.

SERVER=mysqld
CLIENT=mysql
ADMIN=mysqladmin
ENGINE=MySQL
RO_VAR=super_read_only
# caching_sha2_password over a connection without TLS needs the server's RSA key
CLIENT_EXTRA='get-server-public-key'
GTID_EXECUTED_SQL="REPLACE(@@gtid_executed, '\\n', '')"

# eng_covers A B: true when a member with GTID set A has every transaction of set B
eng_covers() { [ "$(sql "SELECT GTID_SUBSET($(sql_quote "$2"), $(sql_quote "$1"))")" = 1 ]; }
# eng_covers_at HOST A B: the same, computed by the server at HOST (helm test: no local server)
eng_covers_at() { [ "$(peer_sql "$1" "SELECT GTID_SUBSET($(sql_quote "$3"), $(sql_quote "$2"))")" = 1 ]; }

# eng_init_datadir DIR [SQL_FILE]: a new data directory; SQL_FILE runs at its end with the
# binary log off for its session, so it leaves no GTID behind
eng_init_datadir() {
  mysqld --defaults-file="$CONFIG_FILE" --datadir="$1" --initialize-insecure --super-read-only=OFF \
    ${2:+--init-file="$2"} >"$RUN_DIR/init.log" 2>&1 || {
    log "mysqld --initialize failed: $(tail -n 20 "$RUN_DIR/init.log")"
    return 1
  }
}

eng_users_sql() {
  printf 'SET @@SESSION.SQL_LOG_BIN = 0;\n'
  printf "ALTER USER 'root'@'localhost' IDENTIFIED BY %s;\n" "$(sql_quote "$ROOT_PASSWORD")"
  printf "CREATE USER 'root'@'%%' IDENTIFIED BY %s;\n" "$(sql_quote "$ROOT_PASSWORD")"
  printf "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%%' WITH GRANT OPTION;\n"
  printf "CREATE USER %s@'%%' IDENTIFIED BY %s;\n" "$(sql_quote "$REPL_USER")" "$(sql_quote "$REPLICATION_PASSWORD")"
  # BACKUP_ADMIN: the donor side of CLONE
  printf "GRANT REPLICATION SLAVE, REPLICATION CLIENT, BACKUP_ADMIN ON *.* TO %s@'%%';\n" "$(sql_quote "$REPL_USER")"
  app_users_sql
}

# eng_server_args: options of every server start besides my.cnf and the pod's identity
eng_server_args() { :; }

eng_source_sql() {
  printf "CHANGE REPLICATION SOURCE TO SOURCE_HOST=%s, SOURCE_PORT=%s, SOURCE_USER=%s, SOURCE_PASSWORD=%s, SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=86400;\n" \
    "$(sql_quote "$1")" "$SERVER_PORT" "$(sql_quote "$REPL_USER")" "$(sql_quote "$REPLICATION_PASSWORD")"
}

# auto-position: the source sends what this member's gtid_executed lacks
eng_before_replicate() { :; }
eng_replicating() { :; }

eng_wait_applied() {
  [ -n "$1" ] || return 0
  [ "$(sql "SELECT WAIT_FOR_EXECUTED_GTID_SET($(sql_quote "$1"), $2)")" = 0 ]
}

# eng_semisync_source on|off [COUNT]: the primary waits for COUNT replicas
eng_semisync_source() {
  if [ "$1" = on ]; then
    sql "SET GLOBAL rpl_semi_sync_source_wait_for_replica_count = $2; SET GLOBAL rpl_semi_sync_source_enabled = ON"
  else
    sql "SET GLOBAL rpl_semi_sync_source_enabled = OFF"
  fi
}

eng_writable() {
  if [ "$1" = on ]; then
    sql "SET GLOBAL super_read_only = OFF; SET GLOBAL read_only = OFF"
  else
    sql "SET SESSION lock_wait_timeout = 1; SET GLOBAL super_read_only = ON"
  fi
}

ENG_READ_ONLY_SQL='SELECT @@super_read_only OR @@read_only'

# eng_joinable PRIMARY_EXECUTED PRIMARY_PURGED MINE: sets ej_problem to errant (MINE holds
# transactions the primary lacks), purged (the primary no longer has binary logs of some
# transactions MINE lacks) or ""
eng_joinable() {
  ej_problem=
  if ! eng_covers "$1" "$3"; then
    ej_problem=errant
  elif ! eng_covers "$3" "$2"; then
    ej_problem=purged
  fi
}

# eng_io_fatal ERRNO MESSAGE: what a receiver stopped by its source means: purged, errant or
# other (see MariaDB's above); 1 when ERRNO is not a fatal error from the source. MySQL 8.x
# reports the source's 1236 as its own 13114 (ER_SERVER_SOURCE_FATAL_ERROR_READING_BINLOG, "Got
# fatal error 1236 from source when reading data from binary log: '...'"); 1236 is kept for
# servers that relay it as is.
eng_io_fatal() {
  case $1 in 1236 | 13114) ;; *) return 1 ;; esac
  case $2 in
  *purged*) echo purged ;;
  *"more GTIDs than the"*) echo errant ;;
  *) echo other ;;
  esac
}

# eng_seed DONOR: CLONE DONOR's data into DATA_DIR itself, the path the server then runs on
# (MySQL manual, "Cloning to a Named Directory": CLONE INSTANCE ... DATA DIRECTORY creates the
# directory, the recipient is not restarted, and a server started on that directory finishes the
# clone; nothing there says a cloned directory may be moved before that start). The recipient is
# a scratch server on DATA_ROOT/data.new (a fresh data directory, root's password only,
# listening on 127.0.0.1 only), removed afterwards. The donor's replication user has
# BACKUP_ADMIN, root here CLONE_ADMIN. The root password file goes whatever happens, and the
# scratch server's log is written afresh on every seed (RUN_DIR is a small memory volume).
eng_seed() {
  rm -rf "$DATA_ROOT/data.new" "$DATA_DIR"
  (
    umask 077
    printf 'SET @@SESSION.SQL_LOG_BIN = 0;\n'
    printf "ALTER USER 'root'@'localhost' IDENTIFIED BY %s;\n" "$(sql_quote "$ROOT_PASSWORD")"
  ) >"$RUN_DIR/init.sql"
  eng_init_datadir "$DATA_ROOT/data.new" "$RUN_DIR/init.sql"
  _sd_rc=$?
  rm -f "$RUN_DIR/init.sql"
  [ "$_sd_rc" -eq 0 ] || return 1
  mysqld --defaults-file="$CONFIG_FILE" --datadir="$DATA_ROOT/data.new" --server-id="${server_id:?}" \
    --bind-address=127.0.0.1 --mysqlx=OFF >"$RUN_DIR/clone.log" 2>&1 &
  _sd_pid=$!
  retry 120 1 sql "SELECT 1" >/dev/null 2>&1 || { kill "$_sd_pid"; wait "$_sd_pid"; return 1; }
  _sd_out=$({
    printf 'SET GLOBAL clone_valid_donor_list = %s;\n' "$(sql_quote "$1:$SERVER_PORT")"
    printf 'CLONE INSTANCE FROM %s@%s:%s IDENTIFIED BY %s DATA DIRECTORY = %s;\n' "$(sql_quote "$REPL_USER")" \
      "$(sql_quote "$1")" "$SERVER_PORT" "$(sql_quote "$REPLICATION_PASSWORD")" "$(sql_quote "$DATA_DIR")"
  } | SQL_TIMEOUT=86400 sql_in 2>&1)
  _sd_rc=$?
  "$ADMIN" --defaults-extra-file="$ROOT_CNF" shutdown >/dev/null 2>&1 || kill "$_sd_pid"
  wait "$_sd_pid"
  rm -rf "$DATA_ROOT/data.new"
  if [ "$_sd_rc" -ne 0 ]; then
    log "CLONE from $(pod_of "$1") failed: $_sd_out"
    rm -rf "$DATA_DIR"
    return 1
  fi
  log "cloned from $(pod_of "$1") into $DATA_DIR (the server finishes the clone when it starts there)"
}
