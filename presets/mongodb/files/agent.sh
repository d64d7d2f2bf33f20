#!/bin/sh
# agent.sh: sidecar of every member pod. Every INTERVAL seconds, one round (files/mongo.js: agent):
#   - this pod's role, labelled ROLE_LABEL=primary|secondary|other on a change and again every
#     RESYNC seconds (the <fullname>-primary Service selects primary);
#   - on ordinal 0 of a set never initiated: the initiate, when decide.js allows it
#     (initiateDecision: an empty volume (MARKER), no durable record, every other pod answering
#     that it is uninitialized);
#   - on the primary: the root and application users, the default write concern, and the members
#     following the StatefulSet (decide.js: plan);
#   - the replica set id written once to the durable record (ConfigMap RECORD, outside every
#     volume), and MARKER removed once this member holds a configuration;
#   - on a member too stale to catch up for STALE_ROUNDS rounds in a row (decide.js:
#     resyncDecision): RESYNC_MARKER written and mongod shut down; mongod.sh empties the data
#     directory on the restart and the member performs an initial sync.
# A pod that becomes primary first takes the primary label from any other pod (an old primary
# that froze or lost its network cannot clear its own), then labels itself: the primary Service
# never selects two pods.
# mongosh runs in the background and the loop waits for it: SIGTERM stops the agent at once
# (a shell defers a trap until a foreground command ends; `wait` returns on a signal), and the
# trap stops mongosh too.
# The StatefulSet's replica count, the topology's PEERS and the record are read, and the pod
# labelled, through the pod's kubectl proxy sidecar (common.sh: kubectl_setup). Without it:
# no labels, no initiate, no membership changes.
# Env: INTERVAL ROLE_LABEL STATEFULSET TOPOLOGY RECORD MARKER RESYNC_MARKER API_PROXY POD_NAMESPACE
#      + lib.sh's and mongo.js's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

child=
stop() {
  [ -z "$child" ] || kill -TERM "$child" 2>/dev/null
  exit 0
}
trap stop TERM INT
OUT=${TMPDIR:-/tmp}/agent.$$.out

INTERVAL=${INTERVAL:-5}
RESYNC=${RESYNC:-60}
ROLE_LABEL=${ROLE_LABEL:-chartgen.io/role}

api=
find_api() {
  [ -z "$api" ] || return 0
  if kubectl_setup; then
    api=1
    log "using the Kubernetes API through the kubectl proxy at $API_PROXY"
  elif [ -z "${api_missing_said:-}" ]; then
    log "no kubectl proxy sidecar in this pod (yet): no labels, no initiate, no membership changes"
    api_missing_said=1
  fi
}

# read_cluster: the StatefulSet's replicas, the topology's PEERS and the record's replica set id,
# in one API call; RECORD_KNOWN=1 when it answered
read_cluster() {
  RECORD_KNOWN=0 live_replicas= TOPO_PEERS= RECORD_ID=
  [ -n "$api" ] || return 1
  _rc=$(kube get "statefulset/$STATEFULSET" "configmap/$TOPOLOGY" "configmap/$RECORD" \
    -o 'jsonpath={.items[0].spec.replicas}{"\n"}{.items[1].data.PEERS}{"\n"}{.items[2].data.replicaSetId}{"\n"}' 2>&1) || {
    notes="${notes}cannot read the StatefulSet and ConfigMaps: $_rc; "
    return 1
  }
  { IFS= read -r live_replicas; IFS= read -r TOPO_PEERS; IFS= read -r RECORD_ID; } <<EOF
$_rc
EOF
  RECORD_KNOWN=1
}

# record RSID: the durable record of the replica set id, written once; a different id later is
# reported, never written over
record() {
  case $1 in '' | *[!0-9a-f]*) return 0 ;; esac
  [ -n "$api" ] && [ "$RECORD_KNOWN" = 1 ] || return 0
  if [ -z "$RECORD_ID" ]; then
    _at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    if _out=$(kube patch configmap "$RECORD" --type merge \
      -p "{\"data\":{\"replicaSetId\":\"$1\",\"recordedBy\":\"$POD_NAME\",\"recordedAt\":\"$_at\"}}" 2>&1); then
      log "recorded replica set $REPLICA_SET id $1 on ConfigMap $RECORD"
    else
      log "cannot record the replica set id: $_out"
    fi
  elif [ "$RECORD_ID" != "$1" ]; then
    notes="${notes}this set's id $1 is not the recorded $RECORD_ID (ConfigMap $RECORD): a second replica set? see the chart README; "
  fi
}

# A primary takes the primary label from every other pod first: one compare-and-set per pod (a
# JSON patch whose "test" fails unless that pod is labelled primary).
unlabel_other_primaries() {
  _path="/metadata/labels/$(printf '%s' "$ROLE_LABEL" | sed 's,~,~0,g; s,/,~1,g')"
  for _p in $PEERS; do
    _pod=$(pod_of "$_p")
    [ "$_pod" != "$POD_NAME" ] || continue
    if kube patch pod "$_pod" --type=json -p "[{\"op\":\"test\",\"path\":\"$_path\",\"value\":\"primary\"},\
{\"op\":\"replace\",\"path\":\"$_path\",\"value\":\"other\"}]" >/dev/null 2>&1; then
      log "took the primary label from $_pod"
    fi
  done
}

# resync WHY: the data directory is to go (mongod.sh empties it when mongod starts again)
resync() {
  log "$1"
  if : >"$RESYNC_MARKER"; then
    log "wrote $RESYNC_MARKER: shutting mongod down; it restarts without data and syncs from the set"
    run_js shutdown 30 || :
    [ -z "$out" ] || log "$(printf '%s' "$out" | sed 's/^log //' | tr '\n' ' ')"
  else
    log "cannot write $RESYNC_MARKER"
  fi
}

# run_js ACTION SECONDS [VAR=VALUE...]: mongo.js's ACTION in the background, its output in $out;
# the loop waits for it, so the TERM trap runs at once (and stops it)
run_js() {
  _action=$1 _secs=$2
  shift 2
  env "$@" ACTION="$_action" timeout "$_secs" mongosh --nodb --quiet --norc "${JS_DIR:-/js}/mongo.js" >"$OUT" 2>&1 &
  child=$!
  wait "$child"
  _rc=$?
  child=
  out=$(read_file "$OUT" 2>/dev/null)
  rm -f "$OUT"
  return "$_rc"
}

last_role= labelled= labelled_at=0 last_notes= stale=0
while :; do
  notes=
  find_api
  read_cluster || :
  marker=0
  [ ! -e "$MARKER" ] || marker=1
  run_js agent 90 MARKER="$marker" RECORD_KNOWN="$RECORD_KNOWN" RECORD_ID="$RECORD_ID" REPLICAS="$live_replicas" \
    TOPO_PEERS="$TOPO_PEERS" STALE_ROUNDS="$stale" || :
  role=other member= rsid= stale=0 why=
  while IFS= read -r line; do
    case $line in
    "role "*) role=${line#role } ;;
    "member yes") member=1 ;;
    "replset "*) rsid=${line#replset } ;;
    "stale "*) stale=${line#stale } ;;
    "resync "*) why=${line#resync } ;;
    "log "*) log "${line#log }" ;;
    "note "*) notes="$notes${line#note }; " ;;
    '') ;;
    *) notes="$notes$line; " ;; # mongosh's own errors
    esac
  done <<EOF
$out
EOF
  record "$rsid"
  case $stale in '' | *[!0-9]*) stale=0 ;; esac
  if [ -n "$why" ]; then
    resync "$why"
    stale=0
  fi
  if [ "$marker" = 1 ] && [ -n "$member" ]; then
    rm -f "$MARKER" && log "this member holds a replica set configuration: $MARKER removed"
  fi
  if [ "$role" != "$last_role" ]; then
    log "role: ${last_role:-none} -> $role"
    last_role=$role
  fi
  if [ -n "$api" ] && { [ "$role" != "$labelled" ] || [ $(($(now) - labelled_at)) -ge "$RESYNC" ]; }; then
    [ "$role" != primary ] || unlabel_other_primaries
    if _out=$(kube label --overwrite pod "$POD_NAME" "$ROLE_LABEL=$role" 2>&1); then
      [ "$role" = "$labelled" ] || log "labelled $POD_NAME $ROLE_LABEL=$role"
      labelled=$role labelled_at=$(now)
    else
      log "cannot label $POD_NAME: $_out"
    fi
  fi
  if [ "$notes" != "$last_notes" ]; then
    [ -z "$notes" ] || log "$notes"
    last_notes=$notes
  fi
  pause "$INTERVAL"
done
