# common.sh: what every chart's scripts share (sourced, POSIX sh). Shell builtins only,
# unless a function says otherwise: some tools images have nothing but a shell (Kubernetes'
# etcd image: bash-static as /bin/sh, no coreutils). Each preset's lib.sh sources this file
# and keeps only its engine's logic.
# Env: POD_NAME, PEERS (the pods' FQDNs in ordinal order, rendered by the chart's one peer rule)

COMMON_LOADED=1
NL='
'

# log MESSAGE...: one line on stderr, with the time when the image has `date`
if command -v date >/dev/null 2>&1; then
  log() { printf '%s %s: %s\n' "$(date -u +%H:%M:%S)" "${0##*/}" "$*" >&2; }
else
  log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
fi

# pause SECONDS: wait, interruptibly by a trapped signal, whatever stdin is (a Job's is
# closed). Without `sleep` (an image with bash-static alone) it waits in `read -t` on a
# descriptor holding both ends of a fresh pipe, where neither data nor EOF ever comes; the
# bash-only syntax is hidden in eval, which dash would refuse to parse.
pause() {
  if command -v sleep >/dev/null 2>&1; then
    sleep "$1" &
    wait $! || :
  elif [ -n "${BASH_VERSION:-}" ]; then
    eval 'read -r -t "$1" _ <> <(:)' || :
  else
    log "pause: no sleep and no bash in this image; cannot wait"
    return 1
  fi
}

# retry TRIES DELAY COMMAND...: run COMMAND (in this shell: a function may keep state) until
# it succeeds, at most TRIES times, pausing DELAY seconds in between; 1 when it never did
retry() {
  _r_tries=$1 _r_delay=$2 _r_n=0
  shift 2
  until "$@"; do
    _r_n=$((_r_n + 1))
    [ "$_r_n" -lt "$_r_tries" ] || return 1
    pause "$_r_delay" || return 1
  done
}

# read_file FILE: print FILE (no `cat` needed); 1 when it cannot be read
read_file() {
  [ -r "$1" ] || return 1
  while IFS= read -r _rf_line || [ -n "$_rf_line" ]; do printf '%s\n' "$_rf_line"; done <"$1"
}

# each_line TEXT FUNC: call FUNC once per non-empty line of TEXT
each_line() {
  _el_rest=$1
  while [ -n "$_el_rest" ]; do
    _el_line=${_el_rest%%"$NL"*}
    case $_el_rest in *"$NL"*) _el_rest=${_el_rest#*"$NL"} ;; *) _el_rest= ;; esac
    [ -z "$_el_line" ] || "$2" "$_el_line"
  done
}

# first_line TEXT
first_line() { printf '%s' "${1%%"$NL"*}"; }

# ---- peers: PEERS is the one list of the pods' FQDNs; nothing here rebuilds a name ----

# ordinal of this pod (StatefulSet pods are <name>-<ordinal>)
ordinal() { printf '%s' "${POD_NAME##*-}"; }

# peer_count: how many pods PEERS lists
peer_count() {
  _pc_n=0
  for _pc_p in $PEERS; do _pc_n=$((_pc_n + 1)); done
  printf '%s' "$_pc_n"
}

# peer_at N: FQDN of the pod with ordinal N; 1 when PEERS has no such pod
peer_at() {
  _pa_i=0
  for _pa_p in $PEERS; do
    if [ "$_pa_i" -eq "$1" ]; then printf '%s' "$_pa_p"; return 0; fi
    _pa_i=$((_pa_i + 1))
  done
  return 1
}

# self_fqdn: this pod's entry of PEERS
self_fqdn() {
  for _sf_p in $PEERS; do
    case $_sf_p in "$POD_NAME".*) printf '%s' "$_sf_p"; return 0 ;; esac
  done
  log "$POD_NAME is not in PEERS ($PEERS)"
  return 1
}

# pod_of FQDN: its pod name (the first label)
pod_of() { printf '%s' "${1%%.*}"; }

# ordinal_of FQDN-or-URL: the ordinal of a pod of PEERS; -1 for anything else
ordinal_of() {
  _oo_host=${1#*://}
  _oo_host=${_oo_host%%[:/]*}
  _oo_i=0
  for _oo_p in $PEERS; do
    if [ "$_oo_p" = "$_oo_host" ]; then printf '%s' "$_oo_i"; return 0; fi
    _oo_i=$((_oo_i + 1))
  done
  printf '%s' -1
}

# each_peer FUNC [SKIP_ORDINAL]: call FUNC FQDN ORDINAL for every pod of PEERS
each_peer() {
  _ep_i=0
  for _ep_p in $PEERS; do
    [ "$_ep_i" = "${2:--1}" ] || "$1" "$_ep_p" "$_ep_i"
    _ep_i=$((_ep_i + 1))
  done
}

# wait_resolvable NAME [SECONDS]: wait until NAME resolves (a new pod's DNS record can lag
# behind its start). Needs `getent`; where the image has none, it does not wait.
wait_resolvable() {
  command -v getent >/dev/null 2>&1 || return 0
  _wr_left=${2:-120}
  until getent hosts "$1" >/dev/null 2>&1; do
    _wr_left=$((_wr_left - 1))
    if [ "$_wr_left" -le 0 ]; then log "$1 does not resolve"; return 1; fi
    pause 1 || return 1
  done
}

# ---- the Kubernetes API, for agents (chartgen.apiProxyContainer) ----

# kubectl_setup: find this pod's kubectl proxy sidecar (shareProcessNamespace: its process is
# visible here) and use its binary through /proc/<pid>/exe (no copy: an image may lack `cp`).
# 1 when there is no such sidecar (yet).
kubectl_setup() {
  [ -z "${KUBECTL_BIN:-}" ] || [ ! -e "$KUBECTL_BIN" ] || return 0
  KUBECTL_BIN=
  for _ks_d in /proc/[0-9]*; do
    read -r _ks_comm 2>/dev/null <"$_ks_d/comm" || continue
    [ "$_ks_comm" = kubectl ] || continue
    # the same pod shares one network namespace (on a shared host, other kubectls do not);
    # -ef (same file) is in dash's, bash's and busybox's test
    # shellcheck disable=SC3013
    [ "$_ks_d/ns/net" -ef /proc/self/ns/net ] || continue
    [ -x "$_ks_d/exe" ] || continue
    KUBECTL_BIN=$_ks_d/exe
    return 0
  done
  return 1
}

# kube ARGS...: kubectl through the pod's API proxy, in the pod's namespace; finds the sidecar
# again when it restarted (1 when there is none)
kube() {
  kubectl_setup || return 1
  "$KUBECTL_BIN" --server="$API_PROXY" --namespace="$POD_NAMESPACE" --request-timeout=5s "$@"
}

# ---- the Lease (coordination.k8s.io), through the pod's kubectl proxy (kube above): the
# arbiter of presets whose engine has no consensus of its own. lease_cas needs `date`. ----
# Env: LEASE_NAME LEASE_SECONDS

# lease_read: sets l_rv l_holder l_acquired l_transitions; 1 on an API error, 2 when missing
lease_read() {
  l_rv= l_holder= l_acquired= l_transitions=0
  _lr_out=$(kube get lease "$LEASE_NAME" -o \
    'jsonpath={.metadata.resourceVersion}|{.spec.holderIdentity}|{.spec.acquireTime}|{.spec.leaseTransitions}' 2>&1) || {
    case $_lr_out in *NotFound* | *"not found"*) return 2 ;; esac
    lease_error=$_lr_out
    return 1
  }
  l_rv=${_lr_out%%|*}
  _lr_out=${_lr_out#*|}
  l_holder=${_lr_out%%|*}
  _lr_out=${_lr_out#*|}
  l_acquired=${_lr_out%%|*}
  l_transitions=${_lr_out#*|}
  case $l_transitions in '' | *[!0-9]*) l_transitions=0 ;; esac
}

# lease_cas RV HOLDER acquire|renew: compare-and-swap on resourceVersion RV (a JSON patch that
# tests it, so a concurrent change makes it fail): HOLDER takes (acquire) or keeps (renew) the
# Lease. Sets l_rv to the new resourceVersion.
lease_cas() {
  _lc_t=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
  _lc_ops="{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"$1\"}"
  if [ "$3" = acquire ]; then
    _lc_ops="$_lc_ops,{\"op\":\"add\",\"path\":\"/spec/holderIdentity\",\"value\":\"$2\"}"
    _lc_ops="$_lc_ops,{\"op\":\"add\",\"path\":\"/spec/acquireTime\",\"value\":\"$_lc_t\"}"
    _lc_ops="$_lc_ops,{\"op\":\"add\",\"path\":\"/spec/leaseTransitions\",\"value\":$((l_transitions + 1))}"
  else
    _lc_ops="$_lc_ops,{\"op\":\"test\",\"path\":\"/spec/holderIdentity\",\"value\":\"$2\"}"
  fi
  _lc_ops="$_lc_ops,{\"op\":\"add\",\"path\":\"/spec/renewTime\",\"value\":\"$_lc_t\"}"
  _lc_ops="$_lc_ops,{\"op\":\"add\",\"path\":\"/spec/leaseDurationSeconds\",\"value\":$LEASE_SECONDS}"
  _lc_out=$(kube patch lease "$LEASE_NAME" --type=json -p "[$_lc_ops]" --request-timeout=2s \
    -o 'jsonpath={.metadata.resourceVersion}' 2>&1) || { lease_error=$_lc_out; return 1; }
  l_rv=$_lc_out
}

# lease_take_new: take the Lease if it was never held (a new cluster: the one member that may
# initialize it takes it first, so a second initialization cannot happen); 1 with WHY otherwise
lease_take_new() {
  if ! kubectl_setup; then
    why="waiting for the kubectl proxy sidecar"
    return 1
  fi
  lease_read
  case $? in
  0) ;;
  2) why="the Lease $LEASE_NAME is missing (helm upgrade restores it)"; return 1 ;;
  *) why="cannot read the Lease $LEASE_NAME: $lease_error"; return 1 ;;
  esac
  if [ -n "$l_holder" ] || [ -n "$l_acquired" ]; then
    why="the Lease says this cluster exists (held by ${l_holder:-nobody}): waiting for a member to copy"
    return 1
  fi
  lease_cas "$l_rv" "$POD_NAME" acquire || { why="lost the race for the Lease: $lease_error"; return 1; }
}

# fqdn_of POD: the FQDN of POD in PEERS; 1 when it is not a member (anymore)
fqdn_of() {
  for _fo_p in $PEERS; do
    case $_fo_p in "$1".*) printf '%s' "$_fo_p"; return 0 ;; esac
  done
  return 1
}

# ---- a preStop hook's handover (needs `date`) ----

# handover_request: ask this pod's agent to hand over before the pod stops (RUN_DIR/handover.request;
# the agent, same pod and process namespace, woken by USR1) and wait until it says done
# (RUN_DIR/handover.state), at most HANDOVER_TIMEOUT seconds; without an agent that answers
# within 5 s there is nothing to wait for
handover_request() {
  : >"$RUN_DIR/handover.request"
  _hr_agent=$(read_file "$RUN_DIR/agent.pid" 2>/dev/null) && kill -USR1 "$_hr_agent" 2>/dev/null || :
  _hr_deadline=$(($(date +%s) + HANDOVER_TIMEOUT))
  _hr_started=$(($(date +%s) + 5))
  while [ "$(date +%s)" -lt "$_hr_deadline" ]; do
    _hr_state=$(read_file "$RUN_DIR/handover.state" 2>/dev/null) || _hr_state=
    [ "$_hr_state" != "done" ] || return 0
    [ -n "$_hr_state" ] || [ "$(date +%s)" -lt "$_hr_started" ] || return 0
    pause 0.2
  done
  log "no handover within ${HANDOVER_TIMEOUT}s"
}
