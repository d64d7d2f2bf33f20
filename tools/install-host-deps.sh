#!/bin/sh
# install-host-deps.sh: Debian packages the tests use; installs only what is missing.
set -eu
need=
for pkg in iproute2 docker-registry redis-server redis-sentinel redis-tools; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
[ -n "$need" ] || exit 0
echo "installing:$need" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
