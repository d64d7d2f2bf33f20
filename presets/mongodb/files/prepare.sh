#!/bin/sh
# prepare.sh: init container, before mongod starts.
#  - mongod refuses a keyfile its group or others may read, and a Secret volume is group-readable
#    (fsGroup): the key is copied to a memory volume, mode 0400, owned by this user (the image's
#    mongodb user, uid 999, which runs mongod).
#  - An empty data directory (lost+found aside) gets MARKER. Ordinal 0 may initiate a replica set
#    only on a volume that was empty when it was first used and has held no replica set
#    configuration since (agent.sh removes MARKER once this member holds one); a volume with
#    data never gets it.
# Env: KEYFILE_SECRET KEYFILE DATA_DIR MARKER
set -eu
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

rm -f "$KEYFILE.tmp"
cp "$KEYFILE_SECRET" "$KEYFILE.tmp"
chmod 0400 "$KEYFILE.tmp"
mv -f "$KEYFILE.tmp" "$KEYFILE" # a rename: the previous copy (0400, not writable) is replaced

if [ ! -e "$MARKER" ]; then
  empty=1
  for f in "$DATA_DIR"/* "$DATA_DIR"/.[!.]* "$DATA_DIR"/..?*; do
    [ -e "$f" ] || [ -L "$f" ] || continue # an unmatched pattern
    [ "${f##*/}" = lost+found ] || empty=
  done
  if [ -n "$empty" ]; then
    : >"$MARKER"
    log "$DATA_DIR is empty: marked as a volume that never held a replica set"
  fi
fi
