#!/bin/sh
# test-cluster.sh: helm test. Passes when exactly one member is writable, a write through the
# primary Service lands on it and reads back on every member by its FQDN, and every member's
# GTID set agrees with the primary's (nothing missing, nothing extra).
# Env: PRIMARY_SERVICE + lib.sh's
set -eu
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

fail() { log "FAIL: $*"; exit 1; }
# root_at HOST SQL: root@'%' on HOST over TCP
root_at() { timeout 10 "$CLIENT" --defaults-extra-file="$ROOT_CNF" -h "$1" -P "$SERVER_PORT" --connect-timeout=3 -N -B -e "$2"; }

client_files
writable= problems=
for peer in $PEERS; do
  ro=$(root_at "$peer" "$ENG_READ_ONLY_SQL" 2>&1) || { problems="$problems $(pod_of "$peer"):no-answer"; continue; }
  [ "$ro" != 0 ] || writable="$writable $peer"
done
[ -z "$problems" ] || fail "not every member answers:$problems"
set -- $writable
[ "$#" -eq 1 ] || fail "$# writable members:${writable:- none}"
primary=$1

token="t$(now)-$$"
root_at "$PRIMARY_SERVICE" "CREATE DATABASE IF NOT EXISTS chartgen_test;
  CREATE TABLE IF NOT EXISTS chartgen_test.probe (id VARCHAR(64) PRIMARY KEY, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
  INSERT INTO chartgen_test.probe (id) VALUES ('$token')" || fail "cannot write through the primary Service $PRIMARY_SERVICE"
via=$(root_at "$PRIMARY_SERVICE" "SELECT @@report_host") || fail "the primary Service does not answer"
[ "$via" = "$primary" ] || fail "the primary Service reaches $via, not the writable member $primary"
want=$(root_at "$primary" "SELECT $GTID_EXECUTED_SQL")

for peer in $PEERS; do
  n=0
  until [ "$(root_at "$peer" "SELECT COUNT(*) FROM chartgen_test.probe WHERE id = '$token'" 2>/dev/null)" = 1 ]; do
    n=$((n + 1))
    [ "$n" -lt 60 ] || fail "$(pod_of "$peer") does not have the write"
    pause 0.5
  done
  got=$(root_at "$peer" "SELECT $GTID_EXECUTED_SQL") || fail "$(pod_of "$peer") stopped answering"
  now_p=$(root_at "$primary" "SELECT $GTID_EXECUTED_SQL") || fail "the primary stopped answering"
  eng_covers_at "$primary" "$got" "$want" || fail "$(pod_of "$peer") lacks transactions of the primary: '$got' vs '$want'"
  eng_covers_at "$primary" "$now_p" "$got" || fail "$(pod_of "$peer") holds transactions the primary lacks: '$got' vs '$now_p'"
done
root_at "$primary" "DROP DATABASE chartgen_test" || :
log "OK: 1 writable member ($(pod_of "$primary")) behind $PRIMARY_SERVICE, the write reads back on $REPLICAS member(s), GTID sets agree ('$want')"
