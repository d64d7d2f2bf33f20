#!/bin/sh
# mongod.sh: the mongod container's command: mongod with the chart's arguments ("$@"), exec'd (it
# is the container's process). One thing first, asked for by this pod's agent only: when
# RESYNC_MARKER exists, this member was too stale to catch up (its last write had fallen off the
# primary's oplog; decide.js: resyncDecision), so the data directory is emptied and mongod starts
# without data: the set's configuration still names it, and it performs an initial sync (MongoDB
# manual, "Resync a Member of a Self-Managed Replica Set": stop mongod, remove all data, start it).
# The marker goes last: a wipe interrupted by a crash is finished on the next start.
# Env: DATA_DIR RESYNC_MARKER + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

if [ -e "$RESYNC_MARKER" ]; then
  log "$RESYNC_MARKER: this member was too stale to catch up; emptying $DATA_DIR for an initial sync"
  for f in "$DATA_DIR"/* "$DATA_DIR"/.[!.]* "$DATA_DIR"/..?*; do
    [ -e "$f" ] || [ -L "$f" ] || continue # an unmatched pattern
    case ${f##*/} in lost+found | "${RESYNC_MARKER##*/}") continue ;; esac
    rm -rf "$f" || exit 1
  done
  rm -f "$RESYNC_MARKER"
  log "$DATA_DIR emptied: mongod starts without data and syncs from the set"
fi
exec mongod "$@"
