# engine.sh: what differs between the servers, generated for this chart's flavor (mariadb).
# Sourced by lib.sh; everything else is shared. Each function prints SQL or runs the server's
# own tools; the callers run the SQL (lib.sh: sql, sql_in, peer_sql).
# MariaDB: mariadbd, the mariadb client, CHANGE MASTER ... MASTER_USE_GTID=slave_pos, GTID
# positions (domain-server-sequence) compared by sequence number in one domain, read_only
# (root@localhost alone holds READ_ONLY ADMIN), built-in semi-sync that waits for one replica,
# replicas seeded by mariadb-backup streamed from a donor (files/donor.sh).

SERVER=mariadbd
CLIENT=mariadb
ADMIN=mariadb-admin
ENGINE=MariaDB
# the variable that makes a member read-only
RO_VAR=read_only
# the members' own certificates are self-generated: encrypt where offered, do not verify
CLIENT_EXTRA='skip-ssl-verify-server-cert'
# what a member has executed (one position per domain; its own writes included)
GTID_EXECUTED_SQL='@@gtid_current_pos'

# eng_seq POSITION: the sequence number of GTID_DOMAIN in a GTID position (0 when none)
eng_seq() {
  _es_rest=$1
  while [ -n "$_es_rest" ]; do
    _es_one=${_es_rest%%,*}
    case $_es_rest in *,*) _es_rest=${_es_rest#*,} ;; *) _es_rest= ;; esac
    _es_one=${_es_one# }
    case $_es_one in "${GTID_DOMAIN:-0}"-*-*) printf '%s' "${_es_one##*-}"; return 0 ;; esac
  done
  printf 0
}

# eng_covers A B: true when a member at position A has every transaction of position B
eng_covers() { [ "$(eng_seq "$1")" -ge "$(eng_seq "$2")" ]; }
# eng_covers_at HOST A B: the same, where no local server answers (helm test)
eng_covers_at() { eng_covers "$2" "$3"; }

# eng_init_datadir DIR [SQL_FILE]: a new data directory; SQL_FILE (users) runs in bootstrap
# mode, before any binary log exists, so it leaves no GTID behind
eng_init_datadir() {
  mariadb-install-db --defaults-file="$CONFIG_FILE" --datadir="$1" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve ${2:+--extra-file="$2"} >"$RUN_DIR/init.log" 2>&1 || {
    log "mariadb-install-db failed: $(tail -n 20 "$RUN_DIR/init.log")"
    return 1
  }
}

# eng_users_sql: the users of a new cluster (bootstrap mode: grants load first). Only
# root@localhost keeps READ_ONLY ADMIN: read_only binds every user clients reach.
eng_users_sql() {
  printf 'FLUSH PRIVILEGES;\n'
  printf "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host NOT IN ('localhost'));\n"
  printf 'FLUSH PRIVILEGES;\n'
  printf "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(%s);\n" "$(sql_quote "$ROOT_PASSWORD")"
  printf "CREATE USER 'root'@'%%' IDENTIFIED BY %s;\n" "$(sql_quote "$ROOT_PASSWORD")"
  printf "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%%' WITH GRANT OPTION;\n"
  printf "REVOKE READ_ONLY ADMIN ON *.* FROM 'root'@'%%';\n"
  printf "CREATE USER %s@'%%' IDENTIFIED BY %s;\n" "$(sql_quote "$REPL_USER")" "$(sql_quote "$REPLICATION_PASSWORD")"
  printf "GRANT REPLICATION SLAVE, REPLICA MONITOR, BINLOG MONITOR ON *.* TO %s@'%%';\n" "$(sql_quote "$REPL_USER")"
  app_users_sql
}

# eng_server_args: options of every server start besides my.cnf and the pod's identity
eng_server_args() { :; }

# eng_source_sql HOST: replicate from HOST by GTID (what this member executed: slave_pos)
eng_source_sql() {
  printf "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_SSL_VERIFY_SERVER_CERT=0;\n" \
    "$(sql_quote "$1")" "$SERVER_PORT" "$(sql_quote "$REPL_USER")" "$(sql_quote "$REPLICATION_PASSWORD")"
}

# eng_before_replicate: replicate from what this member executed: the backup's position after a
# seed (once), else its current position (which covers its own writes as an old primary)
eng_before_replicate() {
  if [ -f "$DATA_ROOT/seed-gtid" ]; then
    _eb_pos=$(read_file "$DATA_ROOT/seed-gtid")
    sql "SET GLOBAL gtid_slave_pos = $(sql_quote "$_eb_pos")" || return 1
  else
    sql "SET GLOBAL gtid_slave_pos = @@gtid_current_pos" || return 1
  fi
}

# eng_replicating: replication runs (the seed's position is no longer needed)
eng_replicating() { rm -f "$DATA_ROOT/seed-gtid"; }

# eng_wait_applied POSITION SECONDS: true once this member executed POSITION
eng_wait_applied() {
  [ -n "$1" ] || return 0
  [ "$(sql "SELECT MASTER_GTID_WAIT($(sql_quote "$1"), $2)")" = 0 ]
}

# eng_semisync_source on|off [COUNT]: the primary's side of semi-sync (MariaDB waits for one)
eng_semisync_source() {
  if [ "$1" = on ]; then
    sql "SET GLOBAL rpl_semi_sync_master_enabled = ON"
  else
    sql "SET GLOBAL rpl_semi_sync_master_enabled = OFF"
  fi
}

# eng_writable on|off
eng_writable() {
  if [ "$1" = on ]; then sql "SET GLOBAL read_only = OFF"; else sql "SET SESSION lock_wait_timeout = 1; SET GLOBAL read_only = ON"; fi
}

# eng_read_only_sql: 1 when the member refuses writes
ENG_READ_ONLY_SQL='SELECT @@read_only'

# eng_joinable PRIMARY_POSITION PRIMARY_PURGED MINE: sets ej_problem to errant|purged|"" (what
# a member at MINE would meet when it follows the primary). MariaDB positions show the errant
# case only when this member is ahead; other divergence surfaces as error 1236 (lib.sh).
eng_joinable() {
  ej_problem=
  if ! eng_covers "$1" "$3"; then ej_problem=errant; fi
}

# eng_io_fatal ERRNO MESSAGE: what a receiver stopped by its source means (Last_IO_Errno /
# Last_IO_Error): purged (the source no longer has the binary logs this member needs), errant
# (this member holds what the source lacks) or other (anything else: a reason to show, nothing
# to re-clone); 1 when ERRNO is not a fatal error from the source. MariaDB reports the
# source's error as 1236 (ER_MASTER_FATAL_ERROR_READING_BINLOG).
eng_io_fatal() {
  [ "$1" = 1236 ] || return 1
  case $2 in
  *purged*) echo purged ;;
  *) echo errant ;;
  esac
}

# eng_rollback_prepared DIR: a prepared backup can hold transactions InnoDB had prepared but
# not committed when it was taken (MDEV-36025); without the donor's binary log to decide them the
# server refuses to start ("Found N prepared transactions!") and the member would crash-loop. They
# are outside the backup's GTID position, so replication brings them again: roll them back in one
# heuristic-recovery run of the server, which always ends by asking to be restarted without it.
eng_rollback_prepared() {
  mariadbd --defaults-file="$CONFIG_FILE" --datadir="$1" --skip-networking --socket="$RUN_DIR/recover.sock" \
    --tc-heuristic-recover=ROLLBACK >"$RUN_DIR/recover.log" 2>&1
  if ! grep -q 'restart without --tc-heuristic-recover' "$RUN_DIR/recover.log"; then
    log "rolling back the backup's prepared transactions failed: $(tail -n 20 "$RUN_DIR/recover.log")"
    return 1
  fi
  _rp_n=$(sed -n 's/.*Found \([0-9]*\) prepared transaction.*/\1/p' "$RUN_DIR/recover.log" | tail -n 1)
  [ -z "$_rp_n" ] || log "rolled back $_rp_n transaction(s) the backup held prepared (replication applies them again)"
}

# eng_seed DONOR: copy DONOR's data into DATA_ROOT/data.new. The donor's sidecar streams a
# mariadb-backup over socat after this member answers its challenge with the replication
# password (files/donor.sh); then prepare, and keep the backup's GTID position for
# gtid_slave_pos (eng_before_replicate).
eng_seed() {
  rm -rf "$DATA_ROOT/data.new" "$RUN_DIR/seed.status"
  mkdir -p "$DATA_ROOT/data.new" || return 1
  socat -T 120 "TCP:$1:$DONOR_PORT,connect-timeout=5" "EXEC:sh $SCRIPTS_DIR/donor.sh receive $DATA_ROOT/data.new" || :
  if [ "$(read_file "$RUN_DIR/seed.status" 2>/dev/null)" != ok ]; then
    log "no complete backup from $(pod_of "$1")"
    return 1
  fi
  mariadb-backup --prepare --target-dir="$DATA_ROOT/data.new" >"$RUN_DIR/prepare.log" 2>&1 || {
    log "mariadb-backup --prepare failed: $(tail -n 20 "$RUN_DIR/prepare.log")"
    return 1
  }
  eng_rollback_prepared "$DATA_ROOT/data.new" || return 1
  # the donor's position at the backup: its binary log's, or (a replica donor) what it applied
  _sd_pos=
  for _sd_f in mariadb_backup_binlog_info xtrabackup_binlog_info; do
    [ -f "$DATA_ROOT/data.new/$_sd_f" ] || continue
    _sd_line=$(read_file "$DATA_ROOT/data.new/$_sd_f")
    # shellcheck disable=SC2086
    set -- $_sd_line
    _sd_pos=${3:-}
    break
  done
  for _sd_f in mariadb_backup_slave_info xtrabackup_slave_info; do
    [ -f "$DATA_ROOT/data.new/$_sd_f" ] || continue
    _sd_slave=$(sed -n "s/.*gtid_slave_pos *= *'\([^']*\)'.*/\1/p" "$DATA_ROOT/data.new/$_sd_f")
    if [ -n "$_sd_slave" ] && eng_covers "$_sd_slave" "$_sd_pos"; then _sd_pos=$_sd_slave; fi
  done
  printf '%s\n' "$_sd_pos" >"$DATA_ROOT/seed-gtid"
  log "seeded from $(pod_of "$1") at GTID position '${_sd_pos}'"
}
