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
#     volume), and MARKER removed once this member holds a configuration.
# The StatefulSet's replica count, the topology's PEERS and the record are read, and the pod
# labelled, through the pod's kubectl proxy sidecar (common.sh: kubectl_setup). Without it:
# no labels, no initiate, no membership changes.
# Env: INTERVAL ROLE_LABEL STATEFULSET TOPOLOGY RECORD MARKER API_PROXY POD_NAMESPACE
#      + lib.sh's and mongo.js's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"
trap 'exit 0' TERM INT

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

last_role= labelled= labelled_at=0 last_notes=
while :; do
  notes=
  find_api
  read_cluster || :
  marker=0
  [ ! -e "$MARKER" ] || marker=1
  out=$(MARKER=$marker RECORD_KNOWN=$RECORD_KNOWN RECORD_ID=$RECORD_ID REPLICAS=$live_replicas \
    TOPO_PEERS=$TOPO_PEERS js agent 90)
  role=other member= rsid=
  while IFS= read -r line; do
    case $line in
    "role "*) role=${line#role } ;;
    "member yes") member=1 ;;
    "replset "*) rsid=${line#replset } ;;
    "log "*) log "${line#log }" ;;
    "note "*) notes="$notes${line#note }; " ;;
    '') ;;
    *) notes="$notes$line; " ;; # mongosh's own errors
    esac
  done <<EOF
$out
EOF
  record "$rsid"
  if [ "$marker" = 1 ] && [ -n "$member" ]; then
    rm -f "$MARKER" && log "this member holds a replica set configuration: $MARKER removed"
  fi
  if [ "$role" != "$last_role" ]; then
    log "role: ${last_role:-none} -> $role"
    last_role=$role
  fi
  if [ -n "$api" ] && { [ "$role" != "$labelled" ] || [ $(($(now) - labelled_at)) -ge "$RESYNC" ]; }; then
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
