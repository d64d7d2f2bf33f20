# lib.sh: helpers shared by the etcd chart's scripts (sourced, POSIX sh).
# Uses shell builtins and etcdctl only: the tools image may have nothing else.
# Inputs (env): FULLNAME PEER_SERVICE NAMESPACE CLUSTER_DOMAIN CLIENT_SCHEME CLIENT_PORT
#               PEER_SCHEME PEER_PORT [ROOT_PASSWORD]

LIB_LOADED=1
NL='
'

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# sleep N seconds, interruptible by a trapped signal (a read timeout when there is no sleep)
pause() {
  if command -v sleep >/dev/null 2>&1; then
    sleep "$1" &
    wait $! || :
  else
    read -r -t "$1" _ 2>/dev/null || :
  fi
}

# stable name of member N: <fullname>-N.<headless>.<namespace>.svc.<domain>
fqdn() { printf '%s-%s.%s.%s.svc.%s' "$FULLNAME" "$1" "$PEER_SERVICE" "$NAMESPACE" "$CLUSTER_DOMAIN"; }
client_url() { printf '%s://%s:%s' "$CLIENT_SCHEME" "$(fqdn "$1")" "$CLIENT_PORT"; }
peer_url() { printf '%s://%s:%s' "$PEER_SCHEME" "$(fqdn "$1")" "$PEER_PORT"; }

# client URLs of members 0..N-1, leaving out ordinal SKIP: endpoints N [SKIP]
endpoints() {
  _n=$1 _skip=${2:--1} _i=0 _out=
  while [ "$_i" -lt "$_n" ]; do
    [ "$_i" -eq "$_skip" ] || _out="${_out:+$_out,}$(client_url "$_i")"
    _i=$((_i + 1))
  done
  printf '%s' "$_out"
}

# etcdctl, with the root user's credentials when auth is configured
ctl() {
  if [ -n "${ROOT_PASSWORD:-}" ]; then
    etcdctl --user="root:$ROOT_PASSWORD" "$@"
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

# Call FUNC once per line of TEXT: each_line TEXT FUNC
each_line() {
  _rest=$1
  while [ -n "$_rest" ]; do
    _line=${_rest%%"$NL"*}
    case $_rest in *"$NL"*) _rest=${_rest#*"$NL"} ;; *) _rest= ;; esac
    [ -z "$_line" ] || "$2" "$_line"
  done
}

# find_member PEER_URL LIST: set m_* for the member with that peer URL; 1 when absent
find_member() {
  _want=$1 _found=
  _match() { split_member "$1"; [ "$m_peer" != "$_want" ] || _found=$1; }
  each_line "$2" _match
  [ -n "$_found" ] || return 1
  split_member "$_found"
}

# ordinal of a member from its peer URL (scheme://<fullname>-N.<headless>...); -1 if foreign
ordinal_of() {
  _host=${1#*://}
  _host=${_host%%.*}
  _ord=${_host#"$FULLNAME"-}
  case $_ord in '' | *[!0-9]* | "$_host") printf '%s' -1 ;; *) printf '%s' "$_ord" ;; esac
}

# value of KEY="..." in etcdctl's `member add` output: value_of KEY TEXT
value_of() {
  _v=${2#*"$1"=\"}
  [ "$_v" != "$2" ] || return 1
  printf '%s' "${_v%%\"*}"
}

# remove member ID through ENDPOINTS, retrying while etcd refuses because the cluster is
# settling (it only removes a voter when enough members have been connected for a while)
remove_member() { # ID ENDPOINTS
  _tries=0
  until _out=$(ctl --endpoints="$2" member remove "$1" 2>&1); do
    case $_out in *"member not found"*) return 0 ;; esac
    _tries=$((_tries + 1))
    if [ "$_tries" -ge 60 ]; then log "cannot remove member $1: $_out"; return 1; fi
    pause 2
  done
}
