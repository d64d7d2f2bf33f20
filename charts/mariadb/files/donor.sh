#!/bin/sh
# donor.sh: seeding new members from this one with mariadb-backup, over socat (MariaDB).
#   listen            the donor sidecar: socat accepts members on DONOR_PORT and runs
#                     `donor.sh send` per connection, its stdin/stdout the connection
#   send              challenge the member (a random nonce; it must answer
#                     sha256(nonce:replication password), so the password never travels),
#                     then stream `mariadb-backup --backup --stream=xbstream --slave-info`
#   receive DIR       the member's side (engine.sh: eng_seed runs it under socat): answer the
#                     challenge, unpack the stream into DIR (mbstream), write RUN_DIR/seed.status
# Env: DONOR_PORT + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

# the answer to NONCE: proves the replication password without sending it
answer() {
  _an=$(printf '%s:%s' "$1" "$REPLICATION_PASSWORD" | sha256sum)
  printf '%s' "${_an%% *}"
}

case ${1:-} in
listen)
  client_files
  log "donor: streams backups of this member on port $DONOR_PORT to members that prove the replication password"
  exec socat "TCP-LISTEN:$DONOR_PORT,reuseaddr,fork" "EXEC:sh $SCRIPTS_DIR/donor.sh send"
  ;;
send)
  peer=${SOCAT_PEERADDR:-a member}
  nonce=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$nonce"
  IFS= read -r reply || exit 1
  if [ "$reply" != "$(answer "$nonce")" ]; then
    printf 'DENIED\n'
    log "donor: refused $peer (wrong answer to the challenge)"
    exit 1
  fi
  printf 'OK\n'
  # mariadb-backup takes one option file: the server's settings plus root's login
  (
    umask 077
    {
      read_file "$CONFIG_FILE"
      printf '[mariadb-backup]\nuser=root\npassword=%s\nsocket=%s\n' "$(cnf_quote "$ROOT_PASSWORD")" "$RUN_DIR/mysqld.sock"
    } >"$RUN_DIR/backup.cnf"
  )
  log "donor: streaming a backup to $peer"
  mkdir -p "$DATA_ROOT/tmp"
  exec mariadb-backup --defaults-file="$RUN_DIR/backup.cnf" --backup --stream=xbstream --slave-info \
    --target-dir="$DATA_ROOT/tmp" --tmpdir="$DATA_ROOT/tmp" 2>"$DATA_ROOT/tmp/backup.log"
  ;;
receive)
  IFS= read -r nonce || exit 1
  answer "$nonce"
  printf '\n'
  IFS= read -r verdict || exit 1
  if [ "$verdict" != OK ]; then
    log "the donor refused this member: $verdict"
    exit 1
  fi
  if mbstream -x -C "$2"; then
    printf 'ok\n' >"$RUN_DIR/seed.status"
  else
    log "the backup stream broke off"
  fi
  ;;
*)
  echo "usage: donor.sh listen|send|receive DIR" >&2
  exit 2
  ;;
esac
