"""MongoDB replica set: a write is acknowledged when insertOne with writeConcern
{w: "majority", j: true} returned (a majority of the voters journaled it), through the set's
members by FQDN (the driver finds the primary)."""

from __future__ import annotations

import shlex

from tests.drivers import PACE, STOP, Driver, Release

PRELUDE = """
const PW = process.env.MONGODB_ROOT_PASSWORD, USER = process.env.ROOT_USER || 'root';
function direct(host) {
  const c = new Mongo(`mongodb://${host}/?directConnection=true&readPreference=primaryPreferred&serverSelectionTimeoutMS=5000`);
  c.getDB('admin').auth(USER, PW);
  return c;
}
"""


class MongoDB(Driver):
    name = preset = release = "mongodb"
    leader_word = "primary"
    acknowledged = 'insertOne with writeConcern {w: "majority", j: true} returned: a majority journaled it'
    test_images = {}
    cannot_run_here = ("MongoDB has no Debian package and no registry serves the official mongo image here: "
                       "runs only with --cluster=existing, where docker.io/library/mongo can be pulled")
    run_as = 999
    values = {"resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}}
    upgrade_change = {"config": {"wiredTigerCacheSizeGB": 0.3}}

    def fqdn(self, r: Release, pod: str) -> str:
        return f"{pod}.{r.name}-headless.{r.ns}.svc.cluster.local:27017"

    def mongosh(self, r: Release, pod: str, js: str, timeout: int = 90) -> str:
        script = "HOME=/tmp mongosh --nodb --quiet --norc --eval " + shlex.quote(PRELUDE + js)
        return r.kube.exec(r.ns, pod, "agent", ["sh", "-c", script], timeout=timeout).strip()

    def settled(self, r: Release, n: int) -> str | None:
        """One primary labelled so, every member PRIMARY or SECONDARY in one set of N members."""
        out = self.mongosh(r, r.pod(0), "const s = direct('127.0.0.1:27017').getDB('admin')"
                           ".runCommand({replSetGetStatus: 1}); print(s.members.map(m => m.name + ' ' + m.stateStr)"
                           ".join('\\n'))")
        states = dict(line.rsplit(" ", 1) for line in out.splitlines() if " " in line)
        prim = [h for h, st in states.items() if st == "PRIMARY"]
        if len(states) != n or len(prim) != 1 or any(st not in ("PRIMARY", "SECONDARY") for st in states.values()):
            return None
        pod = prim[0].split(".", 1)[0]
        return pod if self.leader(r) == pod else None

    def writer(self, r: Release):
        hosts = ",".join(self.fqdn(r, p) for p in r.pods(3))
        script = f"""
cat > /tmp/w.js <<'JS'
const c = new Mongo(`mongodb://root:${{encodeURIComponent(process.env.PW)}}@${{process.env.HOSTS}}/?replicaSet=rs0&authSource=admin&serverSelectionTimeoutMS=3000&socketTimeoutMS=3000`);
const coll = c.getDB('w').getCollection(process.env.RUN);
let i = 0;
while (!require('fs').existsSync('{STOP}')) {{
  i++;
  try {{ coll.insertOne({{_id: i}}, {{writeConcern: {{w: 'majority', j: true, wtimeout: 3000}}}});
        print(`${{i}} ${{Date.now() / 1000}}`); }} catch (e) {{ sleep(100); }}
  sleep({int(PACE * 1000)});
}}
JS
HOME=/tmp exec mongosh --nodb --quiet --norc --file /tmp/w.js
"""
        return "image", script, {"HOSTS": hosts, "PW": {"secret": f"{r.name}-auth", "key": "mongodb-root-password"}}

    def read_back(self, r: Release, run: str, pod: str | None = None) -> set[int]:
        pod = pod or self.leader(r) or r.pod(0)
        out = self.mongosh(r, pod, f"print(direct('127.0.0.1:27017').getDB('w').getCollection('{run.replace('-', '_')}')"
                                   ".find({}, {_id: 1}).toArray().map(d => d._id).join(' '))")
        return {int(x) for x in out.split() if x.isdigit()}
