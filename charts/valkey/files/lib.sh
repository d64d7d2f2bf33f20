# lib.sh: Valkey's helpers for the chart's scripts (sourced, POSIX sh), on top of the
# library's common.sh. Uses what the official Valkey image has: valkey-cli, timeout, getent,
# sleep, date, sed.
# Env: POD_NAME PEERS REPLICAS MASTER_SET SERVER_PORT SENTINEL_PORT [CLI_TIMEOUT]
#      [REDIS_PASSWORD] [SENTINEL_PASSWORD]

[ -n "${COMMON_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/common.sh"
LIB_LOADED=1
MAJORITY=$((REPLICAS / 2 + 1))

now() { date +%s; }

# valkey-cli against the valkey-server / the sentinel at HOST, bounded by CLI_TIMEOUT seconds.
# The password travels in REDISCLI_AUTH (never on a command line).
rcli() {
  _h=$1
  shift
  if [ -n "${REDIS_PASSWORD:-}" ]; then
    REDISCLI_AUTH=$REDIS_PASSWORD timeout "${CLI_TIMEOUT:-2}" valkey-cli -h "$_h" -p "$SERVER_PORT" "$@" 2>/dev/null
  else
    timeout "${CLI_TIMEOUT:-2}" valkey-cli -h "$_h" -p "$SERVER_PORT" "$@" 2>/dev/null
  fi
}
scli() {
  _h=$1
  shift
  if [ -n "${SENTINEL_PASSWORD:-}" ]; then
    REDISCLI_AUTH=$SENTINEL_PASSWORD timeout "${CLI_TIMEOUT:-2}" valkey-cli -h "$_h" -p "$SENTINEL_PORT" "$@" 2>/dev/null
  else
    timeout "${CLI_TIMEOUT:-2}" valkey-cli -h "$_h" -p "$SENTINEL_PORT" "$@" 2>/dev/null
  fi
}

# a value as a double-quoted redis.conf / sentinel.conf argument (escapes \ and ")
conf_quote() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }

# ROLE of the valkey-server at HOST: sets r_role (master|slave|"") and, for a replica,
# r_master (its master's host) and r_link (connected|connect|connecting|sync|handshake)
server_role() {
  r_role= r_master= r_link= r_offset=
  _out=$(rcli "$1" ROLE) || return 1
  _i=0
  while IFS= read -r _l; do
    _i=$((_i + 1))
    case $_i in
    1) r_role=$_l ;;
    2) if [ "$r_role" = master ]; then r_offset=$_l; else r_master=$_l; fi ;;
    4) [ "$r_role" = master ] || r_link=$_l ;;
    5) [ "$r_role" = master ] || r_offset=$_l ;;
    esac
  done <<EOF
$_out
EOF
  case $r_role in master | slave) return 0 ;; *) r_role=; return 1 ;; esac
}

# Seconds since the replica at HOST lost its link to its master: -1 when it has not synced since it
# started, when its link is up, or when it does not answer.
link_down_seconds() {
  _s=$(rcli "$1" INFO replication | sed -n 's/^master_link_down_since_seconds:\([-0-9]*\).*/\1/p')
  case $_s in '' | *[!0-9-]*) echo -1 ;; *) echo "$_s" ;; esac
}

# What the sentinel at HOST says about MASTER_SET: sets sv_host sv_flags sv_epoch;
# 1 when it does not answer or monitors no such master.
sentinel_view() {
  sv_host= sv_flags= sv_epoch=0
  _out=$(scli "$1" SENTINEL MASTER "$MASTER_SET") || return 1
  _key=
  while IFS= read -r _l; do
    if [ -z "$_key" ]; then _key=$_l; continue; fi
    case $_key in
    ip) sv_host=$_l ;;
    flags) sv_flags=$_l ;;
    config-epoch) sv_epoch=$_l ;;
    esac
    _key=
  done <<EOF
$_out
EOF
  case $sv_epoch in '' | *[!0-9]*) sv_epoch=0 ;; esac
  [ -n "$sv_host" ]
}

# Ask the sentinels of PEERS (all, or all but SKIP) who the master is:
#   views [SKIP]
# sets v_answers (sentinels that named a master), v_best (the host named most often),
# v_votes (how often), v_best_down (non-empty when one of those sentinels sees it down or
# failing over), v_top (host named with the highest config epoch) and v_top_epoch.
# shellcheck disable=SC2120 # callers in other scripts pass SKIP
views() {
  v_answers=0 v_best= v_votes=0 v_best_down= v_top= v_top_epoch=-1
  _tally=
  for _p in $PEERS; do
    [ "$_p" != "${1:-}" ] || continue
    sentinel_view "$_p" || continue
    v_answers=$((v_answers + 1))
    case ",$sv_flags," in *,s_down,* | *,o_down,* | *failover*) _down=1 ;; *) _down=0 ;; esac
    _tally="$_tally$sv_host $_down$NL"
    if [ "$sv_epoch" -gt "$v_top_epoch" ]; then v_top=$sv_host v_top_epoch=$sv_epoch; fi
  done
  for _cand in $(printf '%s' "$_tally" | while read -r _h _d; do printf '%s\n' "$_h"; done); do
    _n=0 _d_any=
    while read -r _h _d; do
      [ "$_h" = "$_cand" ] || continue
      _n=$((_n + 1))
      [ "$_d" = 0 ] || _d_any=1
    done <<EOF
$_tally
EOF
    if [ "$_n" -gt "$v_votes" ]; then v_best=$_cand v_votes=$_n v_best_down=$_d_any; fi
  done
}

# A valkey-server other than SELF that says it is a master: sets found_master (the one
# with the highest replication offset); 1 when none does.
running_master() {
  found_master= _best_off=-1
  for _p in $PEERS; do
    [ "$_p" != "$1" ] || continue
    server_role "$_p" || continue
    [ "$r_role" = master ] || continue
    case $r_offset in '' | *[!0-9]*) r_offset=0 ;; esac
    if [ "$r_offset" -gt "$_best_off" ]; then found_master=$_p _best_off=$r_offset; fi
  done
  [ -n "$found_master" ]
}

# Does this pod hold a dataset (AOF directory or file, or an RDB snapshot)?
has_data() {
  [ -d "$DATA_DIR/appendonlydir" ] || [ -f "$DATA_DIR/appendonly.aof" ] || [ -f "$DATA_DIR/dump.rdb" ]
}

# Sentinel state persisted on this pod's volume (the file Sentinel rewrites itself).
SENTINEL_CONF=${DATA_DIR:-/data}/sentinel/sentinel.conf
has_sentinel_state() {
  [ -f "$SENTINEL_CONF" ] || return 1
  while IFS= read -r _l; do
    case $_l in "sentinel monitor $MASTER_SET "*) return 0 ;; esac
  done <"$SENTINEL_CONF"
  return 1
}
