#!/bin/sh
# test-cluster.sh: helm test (files/mongo.js: test, decide.js: checkCluster). Passes when exactly
# one member is PRIMARY and every other SECONDARY, every member holds the same replica set id
# and a configuration naming exactly the pods' FQDNs, the voters are an odd number up to 7, and
# a write acknowledged by a majority reads back from every member.
# Env: REPLICAS + lib.sh's
set -u
[ -n "${LIB_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/lib.sh"

out=$(js test 150)
rc=$?
printf '%s\n' "$out" | sed 's/^log //'
exit "$rc"
