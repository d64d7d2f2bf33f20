#!/bin/sh
# runc-no-sys-resource.sh: the default runtime of the project's dockerd (kindkube/dockerd.py).
# Docker asks for every capability for --privileged containers and `exec --privileged`
# (kind's nodes), but this machine's bounding set lacks CAP_SYS_RESOURCE, so runc fails
# with "unable to apply caps". Drop CAP_SYS_RESOURCE from the spec runc is given, then
# exec runc: the bundle's config.json (create/run) or the --process file (exec).
set -eu
bundle= process= prev=
for arg in "$@"; do
  case $prev in --bundle|-b) bundle=$arg ;; --process|-p) process=$arg ;; esac
  case $arg in --bundle=*) bundle=${arg#--bundle=} ;; --process=*) process=${arg#--process=} ;; esac
  prev=$arg
done
drop() {  # drop FILE JQ-PATH: remove CAP_SYS_RESOURCE from every capability set at JQ-PATH
  if [ -f "$1" ] && grep -q CAP_SYS_RESOURCE "$1"; then
    jq -c "($2 // {}) |= with_entries(.value |= map(select(. != \"CAP_SYS_RESOURCE\")))" "$1" > "$1.tmp"
    mv "$1.tmp" "$1"
  fi
}
[ -z "$bundle" ] || drop "$bundle/config.json" .process.capabilities
[ -z "$process" ] || drop "$process" .capabilities
exec runc "$@"
