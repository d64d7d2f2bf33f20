#!/bin/sh
# test-cluster.sh: helm test. Passes when exactly one pod is master, every other pod is a
# replica of it with its link up, every sentinel names that master, a write acknowledged
# by all replicas (WAIT) reads back from each of them, and — with role labels — the master
# Service reaches that same valkey-server.
# Env: [MASTER_SERVICE] + lib.sh's
set -eu
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

fail() { log "FAIL: $*"; exit 1; }

# sentinel_names PEER: sets said to the master PEER's sentinel names
sentinel_names() {
  said=$(first_line "$(scli "$1" SENTINEL get-master-addr-by-name "$MASTER_SET" || :)")
  [ -n "$said" ]
}

# a loaded node may answer late: every question gets 3 tries, 1 s apart
masters= replicas= problems=
for peer in $PEERS; do
  if ! retry 3 1 server_role "$peer"; then
    problems="$problems $(pod_of "$peer"):no-answer"
  elif [ "$r_role" = master ]; then
    masters="$masters $peer"
  else
    replicas="$replicas $peer"
    [ "$r_link" = connected ] || problems="$problems $(pod_of "$peer"):link-$r_link"
  fi
done
[ -z "$problems" ] || fail "not every pod answers or is a linked replica:$problems"
set -- $masters
[ "$#" -eq 1 ] || fail "$# masters:$masters"
master=$1
for peer in $replicas; do
  retry 3 1 server_role "$peer" || fail "$(pod_of "$peer") stopped answering"
  [ "$r_master" = "$master" ] || fail "$(pod_of "$peer") replicates from $r_master, not $master"
done

sentinels=0
if [ "${SENTINELS:-true}" != false ]; then
  for peer in $PEERS; do
    retry 3 1 sentinel_names "$peer" || :
    [ "$said" = "$master" ] || fail "the sentinel of $(pod_of "$peer") names '${said:-nothing}', not $master"
    sentinels=$((sentinels + 1))
  done
fi

key=chartgen-test:$(now):$$
[ "$(rcli "$master" SET "$key" ok EX 300)" = OK ] || fail "cannot write to the master $master"
acked=$(rcli "$master" WAIT $((REPLICAS - 1)) 5000)
[ "$acked" -ge $((REPLICAS - 1)) ] || fail "write acknowledged by $acked of $((REPLICAS - 1)) replicas"
for peer in $replicas; do
  [ "$(rcli "$peer" GET "$key")" = ok ] || fail "$(pod_of "$peer") does not have the write"
done
rcli "$master" DEL "$key" >/dev/null

# service_reaches_master: the master Service answers with the master's run_id
service_reaches_master() {
  got=$(rcli "$MASTER_SERVICE" INFO server | tr -d '\r' | grep '^run_id:') || return 1
  [ "$got" = "$want" ]
}
if [ -n "${MASTER_SERVICE:-}" ]; then
  want=$(rcli "$master" INFO server | tr -d '\r' | grep '^run_id:')
  # a Service's new endpoint reaches every node's proxy rules a moment after the pod is Ready
  retry 15 2 service_reaches_master ||
    fail "the master Service $MASTER_SERVICE does not reach the master $(pod_of "$master")"
fi
if [ "$sentinels" -gt 0 ]; then
  log "OK: 1 master ($(pod_of "$master")), $((REPLICAS - 1)) linked replica(s), $sentinels sentinel(s) agree, writes replicate"
else
  log "OK: 1 master ($(pod_of "$master")), no sentinel (a single instance), writes read back"
fi
