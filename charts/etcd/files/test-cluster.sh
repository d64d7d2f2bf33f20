#!/bin/sh
# test-cluster.sh: helm test. Passes when the member list has exactly REPLICAS started
# voting members, every one of them is healthy, one leader exists, and a write reads back.
set -eu
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

# A member on a loaded node can time a request out (every authenticated call is a raft
# proposal): each step, all idempotent, is tried up to 3 times, 2 s apart, before the test fails.
retry() {
  _try=1
  until "$@"; do
    [ "$_try" -lt 3 ] || return 1
    _try=$((_try + 1))
    log "retrying ($_try/3): $*"
    pause 2
  done
}

all=$(endpoints "$REPLICAS")
list=$(retry ctl --endpoints="$all" member list -w simple)
count=0 bad=
check() {
  split_member "$1"
  count=$((count + 1))
  [ -n "$m_clients" ] || bad="$bad ${m_peer}:unstarted"
  [ "$m_learner" = false ] || bad="$bad ${m_name}:learner"
}
each_line "$list" check
[ "$count" -eq "$REPLICAS" ] || { log "FAIL: $count members, expected $REPLICAS"; printf '%s\n' "$list"; exit 1; }
[ -z "$bad" ] || { log "FAIL: not every member is a started voter:$bad"; exit 1; }

retry ctl --endpoints="$all" endpoint health --cluster

leaders=0
# columns: endpoint, ID, version, ..., IS LEADER, IS LEARNER, ...
count_leader() { case $1 in *", true, false, "*) leaders=$((leaders + 1)) ;; esac; }
each_line "$(retry ctl --endpoints="$all" endpoint status --cluster -w simple)" count_leader
[ "$leaders" -eq 1 ] || { log "FAIL: $leaders leaders"; exit 1; }

key=/chartgen-test/$POD_NAME
retry ctl --endpoints="$all" put "$key" ok >/dev/null
got=$(retry ctl --endpoints="$all" get "$key" --print-value-only)
retry ctl --endpoints="$all" del "$key" >/dev/null
[ "$got" = ok ] || { log "FAIL: wrote ok, read '$got'"; exit 1; }
log "OK: $count healthy voting members, 1 leader, writes read back"
