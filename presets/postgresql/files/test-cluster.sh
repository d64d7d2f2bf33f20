#!/bin/sh
# test-cluster.sh: helm test. Passes when exactly one member is out of recovery, the -rw Service
# reaches it, a write through it reads back on every member by its FQDN, and every standby
# streams from the primary.
# Env: PRIMARY_SERVICE + lib.sh's
set -eu
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

fail() { log "FAIL: $*"; exit 1; }

pgpass_file
primary= problems= primaries=0
for peer in $PEERS; do
  r=$(super_sql "$peer" "SELECT pg_is_in_recovery()" 2>&1) || { problems="$problems $(pod_of "$peer"):no-answer"; continue; }
  if [ "$r" = f ]; then primary=$peer primaries=$((primaries + 1)); fi
done
[ -z "$problems" ] || fail "not every member answers:$problems"
[ "$primaries" -eq 1 ] || fail "$primaries members are out of recovery (primaries)"

via=$(super_sql "$PRIMARY_SERVICE" "SHOW cluster_name") || fail "the -rw Service $PRIMARY_SERVICE does not answer"
[ "$via" = "$(pod_of "$primary")" ] || fail "the -rw Service reaches $via, not the primary $(pod_of "$primary")"
token="t$(now)-$$"
super_sql "$PRIMARY_SERVICE" "CREATE TABLE IF NOT EXISTS chartgen_test (id text PRIMARY KEY, at timestamptz DEFAULT now());
  INSERT INTO chartgen_test (id) VALUES ('$token')" >/dev/null || fail "cannot write through the -rw Service $PRIMARY_SERVICE"

for peer in $PEERS; do
  n=0
  until [ "$(super_sql "$peer" "SELECT count(*) FROM chartgen_test WHERE id = '$token'" 2>/dev/null)" = 1 ]; do
    n=$((n + 1))
    [ "$n" -lt 60 ] || fail "$(pod_of "$peer") does not have the write"
    pause 0.5
  done
  [ "$peer" != "$primary" ] || continue
  s=$(super_sql "$peer" "SELECT status || ' ' || sender_host FROM pg_stat_wal_receiver") || fail "$(pod_of "$peer") stopped answering"
  [ "$s" = "streaming $primary" ] || fail "$(pod_of "$peer") does not stream from the primary: '$s'"
done
super_sql "$primary" "DROP TABLE chartgen_test" >/dev/null || :
log "OK: 1 primary ($(pod_of "$primary")) behind $PRIMARY_SERVICE; the write reads back on $REPLICAS member(s); every standby streams from it"
