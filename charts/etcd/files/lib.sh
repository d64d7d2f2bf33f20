# lib.sh: etcd's helpers for the chart's scripts (sourced, POSIX sh), on top of the library's
# common.sh. Shell builtins and etcdctl only: the tools image has nothing else.
# Env: POD_NAME PEERS STATEFULSET CLIENT_SCHEME CLIENT_PORT PEER_SCHEME PEER_PORT [ROOT_PASSWORD]

[ -n "${COMMON_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/common.sh"
LIB_LOADED=1

client_url() { printf '%s://%s:%s' "$CLIENT_SCHEME" "$(peer_at "$1")" "$CLIENT_PORT"; }
peer_url() { printf '%s://%s:%s' "$PEER_SCHEME" "$(peer_at "$1")" "$PEER_PORT"; }

# etcd's initial-cluster for members 0..N-1 of PEERS: <pod>=<peer URL>,...
initial_cluster() {
  _ic=
  for _p in $PEERS; do _ic="${_ic:+$_ic,}$(pod_of "$_p")=$PEER_SCHEME://$_p:$PEER_PORT"; done
  printf '%s' "$_ic"
}

# client URLs of members 0..N-1, leaving out ordinal SKIP: endpoints N [SKIP]
endpoints() {
  _n=$1 _skip=${2:--1} _i=0 _out=
  while [ "$_i" -lt "$_n" ]; do
    [ "$_i" -eq "$_skip" ] || _out="${_out:+$_out,}$(client_url "$_i")"
    _i=$((_i + 1))
  done
  printf '%s' "$_out"
}

# etcdctl, with the root user's credentials when auth is configured. They travel in the
# environment (ETCDCTL_USER), never on a command line, where `ps` would show them.
ctl() {
  if [ -n "${ROOT_PASSWORD:-}" ]; then
    ETCDCTL_USER="root:$ROOT_PASSWORD" etcdctl "$@"
  else
    etcdctl "$@"
  fi
}

# Split one line of `member list -w simple` into m_id m_status m_name m_peer m_clients m_learner
split_member() {
  _old_ifs=$IFS
  IFS=', '
  set -f
  # shellcheck disable=SC2086
  set -- $1
  set +f
  IFS=$_old_ifs
  m_id=${1:-} m_status=${2:-} m_name=${3:-} m_peer=${4:-} m_clients=${5:-} m_learner=${6:-}
}

# find_member PEER_URL LIST: set m_* for the member with that peer URL; 1 when absent
find_member() {
  _want=$1 _found=
  _match() { split_member "$1"; [ "$m_peer" != "$_want" ] || _found=$1; }
  each_line "$2" _match
  [ -n "$_found" ] || return 1
  split_member "$_found"
}

# ordinal of a member from its peer URL (scheme://<statefulset>-N.<headless>...); -1 if foreign
member_ordinal() {
  _pod=$(pod_of "${1#*://}")
  _ord=${_pod#"$STATEFULSET"-}
  case $_ord in '' | *[!0-9]* | "$_pod") printf '%s' -1 ;; *) printf '%s' "$_ord" ;; esac
}

# value of KEY="..." in etcdctl's `member add` output: value_of KEY TEXT
value_of() {
  _v=${2#*"$1"=\"}
  [ "$_v" != "$2" ] || return 1
  printf '%s' "${_v%%\"*}"
}

# remove member ID through ENDPOINTS, retrying for about two minutes while etcd refuses because
# the cluster is settling (it only removes a voter when enough members have been connected
# for a while)
remove_member() { # ID ENDPOINTS
  until _out=$(ctl --endpoints="$2" member remove "$1" 2>&1); do
    case $_out in *"member not found"*) return 0 ;; esac
    _tries=$((${_tries:-0} + 1))
    if [ "$_tries" -ge 60 ]; then log "cannot remove member $1: $_out"; return 1; fi
    pause 2 || return 1
  done
}
