"""A MariaDB member seeded from a backup that caught transactions InnoDB had prepared but not
committed (MDEV-36025) starts: the shipped engine.sh (eng_rollback_prepared, run by eng_seed
after `mariadb-backup --prepare`) rolls them back, where the bare server refuses to start ("Found
N prepared transactions!") and the member crash-looped after a re-clone in the e2e runs.

Real parts: MariaDB 11.8's mariadbd and mariadb-backup in the image's stand-in root. A backup
taken with --no-lock under concurrent commits catches prepared transactions within a few tries
(what the donor's locked backup can catch too, more rarely); the test tries until one does, so
the refusal it then fixes is the real one.
"""

from __future__ import annotations

import os

import pytest

import chartgen
from tests.infra import images, roots

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(600)]

if os.geteuid() != 0:  # pragma: no cover - CI and developers' machines run as root
    pytest.skip("the image's stand-in root needs root", allow_module_level=True)

CNF = """[mariadbd]
datadir=/work/data
socket=/work/server.sock
log-bin=binlog
skip-networking
server-id=1
innodb-buffer-pool-size=32M
"""

# a server under six writers; --no-lock backups until a prepared one refuses to start
CATCH = r"""
set -u
cd /work
mariadb-install-db --defaults-file=/work/my.cnf --auth-root-authentication-method=normal --skip-name-resolve \
  >/work/install.log 2>&1 || { tail -n 20 /work/install.log; exit 2; }
mariadbd --defaults-file=/work/my.cnf >/work/server.log 2>&1 &
for i in $(seq 60); do mariadb -uroot -S /work/server.sock -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
mariadb -uroot -S /work/server.sock -e 'CREATE DATABASE d; CREATE TABLE d.t (id INT AUTO_INCREMENT PRIMARY KEY, v CHAR(90))'
for w in 1 2 3 4 5 6; do
  (while [ ! -f /work/stop ]; do echo "INSERT INTO d.t (v) VALUES (REPEAT('x', 90));"; done |
    mariadb -uroot -S /work/server.sock >/dev/null 2>&1) &
done
sleep 1
caught=
for n in $(seq 20); do
  rm -rf /work/b && mkdir /work/b
  mariadb-backup --backup --no-lock --user=root --socket=/work/server.sock --target-dir=/work/b >/work/backup.log 2>&1 &&
    mariadb-backup --prepare --target-dir=/work/b >/work/prepare.log 2>&1 || { tail -n 5 /work/backup.log /work/prepare.log; exit 2; }
  rm -rf /work/probe && cp -a /work/b /work/probe
  mariadbd --defaults-file=/work/my.cnf --datadir=/work/probe --socket=/work/probe.sock >/work/probe.log 2>&1 &
  probe=$!
  while kill -0 $probe 2>/dev/null && ! mariadb -uroot -S /work/probe.sock -e 'SELECT 1' >/dev/null 2>&1; do sleep 0.2; done
  mariadb-admin -uroot -S /work/probe.sock shutdown >/dev/null 2>&1
  wait $probe
  if grep -q 'Found [0-9]* prepared transactions!' /work/probe.log; then caught=$n; break; fi
done
touch /work/stop
mariadb-admin -uroot -S /work/server.sock shutdown
wait
[ -n "$caught" ] || { echo "no backup caught a prepared transaction in 20 tries"; exit 3; }
echo "caught on try $caught"
"""

# the shipped function on the caught backup, then a plain start of it
RECOVER = r"""
set -u
log() { echo "log: $*"; }
. /work/engine.sh
eng_rollback_prepared /work/b || exit 4
mariadbd --defaults-file=/work/my.cnf --datadir=/work/b --socket=/work/b.sock >/work/b.log 2>&1 &
for i in $(seq 60); do mariadb -uroot -S /work/b.sock -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
mariadb -uroot -S /work/b.sock -N -e 'SELECT COUNT(*) > 0 FROM d.t' || { tail -n 20 /work/b.log; exit 5; }
mariadb-admin -uroot -S /work/b.sock shutdown
wait
"""


def test_a_clone_whose_backup_caught_prepared_transactions_starts(tmp_path):
    chart = chartgen.generate("mysql", "mysql", flavor="mariadb", output=tmp_path / "chart")
    work = tmp_path / "work"
    work.mkdir()
    (work / "my.cnf").write_text(CNF)
    (work / "engine.sh").write_text((chart.path / "files" / "engine.sh").read_text())
    os.chown(work, 999, 999)
    for f in work.iterdir():
        os.chown(f, 999, 999)
    image = images.recipe_for("MARIADB_IMAGE")
    env = {"CONFIG_FILE": "/work/my.cnf", "RUN_DIR": "/work"}

    caught = roots.run(image, ["/bin/sh", "-c", CATCH], env=env, volumes={"/work": work}, user=(999, 999), timeout=400)
    assert caught.returncode == 0, f"no backup with prepared transactions to start from:\n{caught.stdout}{caught.stderr}"
    refused = (work / "probe.log").read_text()
    assert "Found" in refused and "prepared transactions!" in refused   # the bare server refuses it

    got = roots.run(image, ["/bin/sh", "-c", RECOVER], env=env, volumes={"/work": work}, user=(999, 999), timeout=120)
    assert got.returncode == 0, f"{got.stdout}{got.stderr}\n{(work / 'recover.log').read_text()[-2000:]}"
    assert "log: rolled back" in got.stdout and "transaction(s) the backup held prepared" in got.stdout, got.stdout
    assert got.stdout.strip().endswith("1"), got.stdout
