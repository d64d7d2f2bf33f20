#!/bin/sh
# probe.sh: the pods' exec probes.
#   redis-live      valkey-server answers PING (LOADING counts: a big dataset loads slowly)
#   redis-ready     a master, or a replica whose link to its master is up (not syncing), or one
#                   that synced since it started and lost its link less than LINK_GRACE_SECONDS
#                   ago (repl-timeout): it serves what it has (replica-serve-stale-data), and a
#                   blip of its master (a starved CPU, a slow DNS answer) is not a lost member
#   sentinel-live   valkey-sentinel answers PING
#   sentinel-ready  the sentinel monitors a master
# Env: lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

case ${1:-} in
redis-live)
  out=$(rcli 127.0.0.1 PING) || exit 1
  case $out in PONG | LOADING*) exit 0 ;; esac
  echo "PING: $out"
  exit 1
  ;;
redis-ready)
  server_role 127.0.0.1 || { echo "no ROLE answer"; exit 1; }
  [ "$r_role" = master ] && exit 0
  [ "$r_link" = connected ] && exit 0
  down=$(link_down_seconds 127.0.0.1)
  [ "$down" -ge 0 ] && [ "$down" -lt "${LINK_GRACE_SECONDS:-0}" ] && exit 0
  if [ "$down" -lt 0 ]; then
    echo "replica of $r_master: link $r_link (not synced since it started)"
  else
    echo "replica of $r_master: link $r_link (down for ${down}s)"
  fi
  exit 1
  ;;
sentinel-live)
  [ "$(scli 127.0.0.1 PING)" = PONG ]
  ;;
sentinel-ready)
  out=$(scli 127.0.0.1 SENTINEL get-master-addr-by-name "$MASTER_SET") || exit 1
  [ -n "$(first_line "$out")" ] || { echo "monitors no master"; exit 1; }
  ;;
*)
  echo "usage: probe.sh redis-live|redis-ready|sentinel-live|sentinel-ready" >&2
  exit 2
  ;;
esac
