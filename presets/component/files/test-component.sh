#!/bin/sh
# test-component.sh: helm test of a component, in the chart's testImage (Debian slim: dash,
# bash, getent, timeout). Passes when the client Service answers on every TCP port and, for
# the stateful types, every pod's FQDN (PEERS) resolves and answers on every TCP port.
# "Answers" means a TCP connection opens: the chart does not know your protocol.
# Env: SERVICE PORTS [PEERS] [RESOLVE_SECONDS (30)] [TRIES (10, a second apart)]
set -eu
[ -n "${COMMON_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/common.sh"

# answers HOST PORT: a TCP connection to HOST:PORT opens within 5 s (bash's /dev/tcp)
answers() { timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"' answers "$1" "$2" 2>/dev/null; }

failed=
# check HOST WHAT: HOST resolves and answers on every port
check() {
  if ! wait_resolvable "$1" "${RESOLVE_SECONDS:-30}"; then
    failed="$failed $2:unresolvable"
    return 0
  fi
  for port in $PORTS; do
    if retry "${TRIES:-10}" 1 answers "$1" "$port"; then
      log "$2 ($1) answers on port $port"
    else
      failed="$failed $2:$port"
    fi
  done
}

check "$SERVICE" Service
for fqdn in ${PEERS:-}; do check "$fqdn" "$(pod_of "$fqdn")"; done
if [ -n "$failed" ]; then
  log "FAIL:$failed"
  exit 1
fi
if [ -n "${PEERS:-}" ]; then
  log "OK: the Service and $(peer_count) pod(s) by FQDN answer on port(s) $PORTS"
else
  log "OK: the Service answers on port(s) $PORTS"
fi
