#!/bin/sh
# prestop.sh: preStop hooks (the kubelet runs them before it sends SIGTERM).
#   redis     On a master with replicas: pause writes (clients wait, nothing is refused),
#             let the replicas catch up, ask a sentinel for a failover (SENTINEL FAILOVER),
#             wait until a majority of sentinels name another pod, make this valkey-server a
#             replica of it, unpause (writes now get READONLY and clients follow Sentinel),
#             wait a little for another replica to follow the new master. A replica, or a
#             single pod, stops at once. Bounded by HANDOVER_TIMEOUT.
#   sentinel  Keeps this pod's sentinel up while its valkey-server is still master, so that
#             it can vote during the handover.
# Env: HANDOVER_TIMEOUT + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

TIMEOUT=${HANDOVER_TIMEOUT:-20}
deadline=$(($(now) + TIMEOUT))
self=$(self_fqdn) || exit 0

still_master() { server_role 127.0.0.1 && [ "$r_role" = master ]; }

case ${1:-} in
sentinel)
  while [ "$(now)" -lt "$deadline" ] && still_master; do pause 1; done
  exit 0
  ;;
redis) ;;
*)
  echo "usage: prestop.sh redis|sentinel" >&2
  exit 2
  ;;
esac

[ "$REPLICAS" -gt 1 ] || exit 0
still_master || exit 0
log "$POD_NAME is the master and stops: handing over"
rcli 127.0.0.1 CLIENT PAUSE $((TIMEOUT * 1000)) WRITE >/dev/null
rcli 127.0.0.1 WAIT $((REPLICAS - 1)) 2000 >/dev/null

# the other pods' sentinels first: this pod's own one stops right after
order=
for peer in $PEERS; do [ "$peer" = "$self" ] || order="$order $peer"; done
order="$order $self"

# A sentinel in TILT mode (it saw its clock jump, e.g. a starved CPU) accepts SENTINEL FAILOVER
# but acts only when TILT ends, 30 s later: ask another one, and ask the next sentinel when the
# one asked shows no result after RETRY seconds.
in_tilt() { scli "$1" INFO sentinel | tr -d '\r' | grep -q '^sentinel_tilt:1'; }
RETRY=${HANDOVER_RETRY:-6}

# does the master NEW list a replica other than this pod (then it takes writes once we stop)?
other_replica() {
  _o=$(rcli "$1" ROLE) || return 1
  case $_o in master"$NL"*) ;; *) return 1 ;; esac
  printf '%s\n' "$_o" | {
    while read -r _l; do case $_l in *.*) [ "$_l" = "$self" ] || exit 0 ;; esac; done
    exit 1
  }
}

asked= asked_at=0 tried= new=
while [ "$(now)" -lt "$deadline" ]; do
  if [ -z "$asked" ] || [ $(($(now) - asked_at)) -ge "$RETRY" ]; then
    for peer in $order; do
      case " $tried " in *" $peer "*) continue ;; esac
      if in_tilt "$peer"; then log "the sentinel of $(pod_of "$peer") is in TILT mode; asking another"; continue; fi
      out=$(scli "$peer" SENTINEL FAILOVER "$MASTER_SET") || continue
      case $out in
      OK | *INPROG*)
        asked=$peer asked_at=$(now) tried="$tried $peer"
        log "failover asked of the sentinel of $(pod_of "$peer"): $out"
        break
        ;;
      *) log "sentinel of $(pod_of "$peer"): $out" ;;
      esac
    done
  fi
  views
  if [ "$v_votes" -ge "$MAJORITY" ] && [ "$v_best" != "$self" ]; then
    new=$v_best
    break
  fi
  pause 0.5
done

if [ -n "$new" ]; then
  rcli 127.0.0.1 REPLICAOF "$new" "$SERVER_PORT" >/dev/null
  rcli 127.0.0.1 CLIENT UNPAUSE >/dev/null # paused writers now get READONLY and move on
  log "handed over to $(pod_of "$new"); $POD_NAME is now its replica"
  # stay a few seconds more until another replica follows the new master, so that it can
  # take writes (min-replicas-to-write) as soon as this pod is gone
  settle=$(($(now) + 5))
  until other_replica "$new" || [ "$(now)" -ge "$settle" ] || [ "$(now)" -ge "$deadline" ]; do pause 0.5; done
else
  log "no handover within ${TIMEOUT}s (failover asked of:${tried:- no sentinel}; $v_votes sentinel(s) name $(pod_of "${v_best:-none}")); stopping anyway, Sentinel fails over after down-after"
fi
rcli 127.0.0.1 CLIENT UNPAUSE >/dev/null
exit 0
