#!/bin/sh
# install-host-deps.sh: Debian packages the tests use; installs only what is missing.
set -eu
need=
# bash-static: the shell of the etcd tools image; shellcheck: the chart tests lint every script;
# numactl, gosu: in the official mongo image (tests/images/manifest.yaml), stand-ins for its tool set;
# mariadb-server + mariadb-backup + socat: the mysql preset's member-level tests (mariadbd, mariadb-backup, mbstream)
for pkg in iproute2 docker-registry redis-server redis-sentinel redis-tools bash-static shellcheck numactl gosu mariadb-server mariadb-backup socat; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
[ -n "$need" ] || exit 0
echo "installing:$need" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
