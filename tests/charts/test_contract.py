"""The contract every preset's chart keeps, through the real helm. A new preset (or flavor, or
deployment type) gets these tests by existing: they read what to check from its declaration
(preset.yaml) and from the chart's own self-description.

Per preset, flavor and type: lint + schema + policy over a matrix, a -single type held to one
instance (schema and templates) and type switches refused when they would leave data behind, odd counts where a majority decides, the
PEERS Helm renders against chartgen.topology, PDBs against the quorum, affinity presets and
topology spread, generated secrets kept (and refused when an upgrade cannot see the cluster),
NetworkPolicy, image digests, names within Kubernetes' limits at the longest allowed chart
name, the chart's self-description, and containers calling only what their images hold.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

import chartgen
from chartgen import describe, library, policy, presets
from chartgen import values as values_mod
from chartgen.errors import HelmError, InvalidValueError
from chartgen.versions import ImageRef
from chartgen.topology import Peers, fault_tolerance, rendered_peer_lists
from tests.infra.images import MissingTool, key_of, tools

CASES = [(p.name, f.name if f else None, t) for p in presets.all_presets() for f in (p.flavors or (None,))
         for t in p.types]
IDS = ["-".join(x for x in (p, f, t) if x) for p, f, t in CASES]
MEMBER_COUNTS = {True: [1, 3, 5, 7], False: [1, 2, 3]}


class Case(tuple):
    """(spec, chart) as before, plus the deployment type the chart was generated with."""

    chart_type: str

    def counts(self):
        spec = self[0]
        return [1] if presets.is_single(self.chart_type) else MEMBER_COUNTS[spec.quorum]

    def top(self):
        return self.counts()[-1] if not self[0].quorum else (1 if presets.is_single(self.chart_type) else 5)

    def kind(self, workload=None):
        return (workload or self[0].main).resolved_kind(self.chart_type)


def generate(spec, name, output, flavor=None, chart_type=None):
    """A chart of SPEC as the contract tests see it: the preset's example arguments (a component
    needs an image) and the deployment type of the case."""
    return chartgen.generate(spec.name, name, flavor=flavor, type=chart_type, output=output, **spec.example)


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def case(request, tmp_path_factory):
    name, flavor, chart_type = request.param
    spec = presets.load(name)
    spec = spec.for_flavor(spec.flavor(flavor))  # the workloads as this flavor declares them
    chart = generate(spec, name, tmp_path_factory.mktemp("c") / name, flavor, chart_type)
    out = Case((spec, chart))
    out.chart_type = chart_type
    return out


def _kinds(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def _pod_spec(obj):
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def _ci_values(spec, chart_type=None):
    """The preset's ci/*.yaml; with CHART_TYPE, those for that type (a file's `type`, else the
    preset's default type)."""
    folder = spec.path / "ci"
    found = {p.stem: yaml.safe_load(p.read_text()) or {} for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}
    if chart_type is None:
        return found
    return {k: v for k, v in found.items() if v.get("type", spec.default_type) == chart_type}


def _set(values, dotted, value):
    node = values
    *head, last = dotted.split(".")
    for part in head:
        node = node.setdefault(part, {})
    node[last] = value
    return values


# -- lint, schema, policy -----------------------------------------------------------------
def test_lint_schema_and_policy_are_clean_over_the_member_counts(case, helm):
    spec, chart = case
    for n in case.counts():
        values = _set({}, spec.replicas_field, n)
        assert chart.lint_problems(values, helm=helm) == [], f"{spec.name} with {n} member(s)"


def test_lint_is_clean_for_every_ci_values_file(case, helm):
    spec, chart = case
    for name, values in _ci_values(spec, case.chart_type).items():
        assert chart.lint_problems(values, helm=helm) == [], f"{spec.name}: ci/{name}.yaml"


def test_the_policy_has_teeth(case, helm):
    """Strip what the rules require from the rendered chart and each rule fires."""
    spec, chart = case
    objects = helm.template(chart.path, spec.name, values=_set({}, spec.replicas_field, case.top()))
    sts = _kinds(objects, case.kind())[0]
    main = _pod_spec(sts)["containers"][0]
    del main["resources"]["limits"]
    del main["readinessProbe"]
    main["securityContext"]["allowPrivilegeEscalation"] = True
    del sts["metadata"]["labels"]["app.kubernetes.io/instance"]
    found = "\n".join(policy.problems(objects))
    for needle in ("limits.memory", "readinessProbe", "allowPrivilegeEscalation", "app.kubernetes.io/instance"):
        assert needle in found
    if spec.quorum and case.top() == 5:
        _kinds(objects, "PodDisruptionBudget")[0]["spec"]["maxUnavailable"] = 3
        assert "allows 3 unavailable of 5" in "\n".join(policy.problems(objects))


# -- majorities ---------------------------------------------------------------------------
def test_even_and_empty_member_counts_are_refused(case, helm):
    spec, chart = case
    if presets.is_single(case.chart_type):  # one instance; test_single_types_run_exactly_one_instance says why
        for n in (2, 4, 0, -1):
            with pytest.raises(HelmError):
                helm.template(chart.path, spec.name, values=_set({}, spec.replicas_field, n))
        return
    if not spec.quorum:  # no majority decides: any count of at least one
        for n in (2, 4):
            assert helm.template(chart.path, spec.name, values=_set({}, spec.replicas_field, n))
        for n in (0, -1):
            with pytest.raises(HelmError):
                helm.template(chart.path, spec.name, values=_set({}, spec.replicas_field, n))
        return
    for n in (2, 4, 6, 0, -1):
        with pytest.raises(HelmError, match=spec.replicas_field):
            helm.template(chart.path, spec.name, values=_set({}, spec.replicas_field, n))
    # without the schema, the templates still say why
    with pytest.raises(HelmError, match="4 members tolerate 1 failure.*use 3 or 5"):
        helm.run(["template", "x", str(chart.path), "--skip-schema-validation", "--set", f"{spec.replicas_field}=4"])
    with pytest.raises(InvalidValueError, match="use 3 or 5"):
        chartgen.generate(spec.name, "x", replicas=4, output="/nonexistent/never-written")


# -- helm-time refusals users can read ---------------------------------------------------------
BARE = ("'not' failed", "'anyOf' failed", "'allOf' failed", "'oneOf' failed", "validation failed")


def _bad_values(case):
    """(values, what the refusal must say) for every value a rule (not a type) refuses in this
    chart: member counts, a -single type's one instance, a preset's cross-field rules."""
    spec, _ = case
    field = spec.replicas_field
    out = []
    if presets.is_single(case.chart_type):
        out.append(({field: 3}, f"{field} must be 1: type {case.chart_type} runs exactly one instance"))
    elif spec.quorum:
        for n in (2, 4, 6, 0, -1, 9, 1001):
            out.append(({field: n}, f"{field} must be 1, 3, 5 or 7: an odd count"))
    if spec.name == "redis" and not presets.is_single(case.chart_type):
        out.append(({"sentinel": {"quorum": 1}}, "sentinel.quorum must be 0, 2 or 3 with replicaCount=3"))
    if spec.name == "postgresql":
        out.append(({"config": {"parameters": {"wal_level": "minimal"}}},
                    "config.parameters.wal_level must not be set: the chart sets wal_level itself"))
    if spec.name == "component":
        if case.chart_type != "stateless-multi":
            out.append(({"autoscaling": {"enabled": True}}, "autoscaling.enabled needs type stateless-multi"))
        else:
            out.append(({"persistence": {"enabled": True, "accessModes": ["ReadWriteOnce"]}},
                        "persistence.accessModes must include ReadWriteMany with type stateless-multi"))
    return out


def _bare_lines(stderr: str) -> list[str]:
    """Error lines of helm's schema report that say only that a combinator failed, with no line
    under them saying why."""
    lines = [ln for ln in stderr.splitlines() if ln.lstrip().startswith("- at ")]
    bare = []
    for i, line in enumerate(lines):
        depth = len(line) - len(line.lstrip())
        child = i + 1 < len(lines) and len(lines[i + 1]) - len(lines[i + 1].lstrip()) > depth
        if line.rstrip().endswith(BARE) and not child:
            bare.append(line.strip())
    return bare


def _dotted(values, prefix=""):
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _dotted(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}={json.dumps(value) if isinstance(value, list) else value}"


def test_every_refusal_of_a_rule_names_it_at_helm_time_and_in_chartgen(case, helm):
    """helm template and helm lint (the real helm: schema validation, then the templates) refuse
    each bad value with the rule in words, never a bare "'not' failed" / "'anyOf' failed" /
    "'allOf' failed"; chartgen generate refuses the same values naming the rule and the fix."""
    spec, chart = case
    for values, rule in _bad_values(case):
        sets = list(_dotted(values))
        with pytest.raises(HelmError) as err:
            helm.template(chart.path, spec.name, values=values)
        stderr = err.value.__cause__.stderr.decode()
        assert rule in stderr.replace("\\'", "'"), f"{sets}: {stderr}"
        assert not _bare_lines(stderr), f"{sets}: {_bare_lines(stderr)}"
        with pytest.raises(InvalidValueError) as refused:
            chartgen.generate(spec.name, "x", type=case.chart_type, sets=sets, output="/nonexistent/never-written",
                              **spec.example)
        message = str(refused.value)
        field = sets[0].split("=")[0]
        # the rule in words (the schema's own text) or the reason with the fix ("...; use 3 or 5")
        assert field in message and (rule in message or "; use " in message or "; set " in message), message
    lint_values = _bad_values(case)[:1]
    for values, rule in lint_values:
        args = ["lint", "--strict", str(chart.path)]
        for item in _dotted(values):
            args += ["--set-json" if "=[" in item else "--set", item]
        with pytest.raises(HelmError) as err:
            helm.run(args)
        out = err.value.__cause__.stdout.decode() + err.value.__cause__.stderr.decode()
        assert rule in out.replace("\\'", "'") and not _bare_lines(out), out


def test_the_largest_counts_are_refused_with_the_engines_reason():
    with pytest.raises(InvalidValueError, match=r"replicaCount=1001: at most 7 members \(the etcd FAQ"):
        chartgen.generate("etcd", "x", replicas=1001, output="/nonexistent/never-written")
    for name in ("etcd", "redis", "mysql", "mongodb"):
        with pytest.raises(InvalidValueError, match=r"replicaCount=9: at most 7 members"):
            chartgen.generate(name, "x", replicas=9, output="/nonexistent/never-written")


# -- deployment types -----------------------------------------------------------------------
def test_single_types_run_exactly_one_instance(case, helm):
    """A -single type: the schema refuses another count with the reason, the templates too
    (without the schema), and so does generate()."""
    spec, chart = case
    if not presets.is_single(case.chart_type):  # a -multi type runs more
        objects = helm.template(chart.path, spec.name, values=_set({}, spec.replicas_field, 3))
        assert _kinds(objects, case.kind())[0]["spec"].get("replicas", 3) == 3
        return
    reason = f"type {case.chart_type} runs exactly one instance"
    for n in (2, 3):
        with pytest.raises(HelmError) as err:
            helm.template(chart.path, spec.name, values=_set({}, spec.replicas_field, n))
        assert reason in err.value.__cause__.stderr.decode()
    with pytest.raises(HelmError, match=f"{spec.replicas_field}=3: {reason}"):
        helm.run(["template", "x", str(chart.path), "--skip-schema-validation", "--set", f"{spec.replicas_field}=3"])
    with pytest.raises(InvalidValueError, match=f"--replicas 3: {reason}"):
        chartgen.generate(spec.name, "x", type=case.chart_type, replicas=3, output="/nonexistent/never-written",
                          **spec.example)
    with pytest.raises(InvalidValueError, match=f"{spec.replicas_field}=3: {reason}"):
        chartgen.generate(spec.name, "x", type=case.chart_type, sets=[f"{spec.replicas_field}=3"],
                          output="/nonexistent/never-written", **spec.example)


# the types a switch to a type can leave volumes behind from (presets/_library/templates/_types.tpl)
LOSSY_FROM = {
    "stateful-multi": {"stateless-multi"},
    "stateful-single": {"stateful-multi", "stateless-multi"},
    "stateless-single": {"stateful-multi", "stateless-multi"},
    "stateless-multi": {"stateful-multi", "stateful-single", "stateless-single"},
}


def _no_generated_secrets(spec):
    """Values under which the chart generates no Secret (so only the type rule can refuse)."""
    defaults = yaml.safe_load(values_mod.dump(library.compose_values(spec)))
    values = {}
    for block in ("auth", "tls"):
        if isinstance(defaults.get(block), dict) and "existingSecret" in defaults[block]:
            values[block] = {"existingSecret": "mine"}
    return values


def test_an_upgrade_that_cannot_see_the_cluster_refuses_a_type_that_could_lose_data(case, helm):
    """helm template --is-upgrade: lookup is blind, so the chart cannot see which type runs now.
    It refuses exactly when another type the preset offers would lose data by switching to this
    one, and typeSwitch.acknowledgeDataLoss lets it through."""
    spec, chart = case
    values = _set(_no_generated_secrets(spec), spec.replicas_field, case.top())
    risky = sorted((LOSSY_FROM[case.chart_type] & set(spec.types)) - {case.chart_type})
    if not risky:
        assert helm.template(chart.path, spec.name, values=values, is_upgrade=True)
        return
    with pytest.raises(HelmError) as err:
        helm.template(chart.path, spec.name, values=values, is_upgrade=True)
    text = err.value.__cause__.stderr.decode()
    assert "rendered without access to the cluster" in text and "typeSwitch.acknowledgeDataLoss=true" in text
    assert all(t in text for t in risky), (risky, text)
    assert helm.template(chart.path, spec.name, values={**values, "typeSwitch": {"acknowledgeDataLoss": True}},
                         is_upgrade=True)


def test_workloads_follow_the_type_and_say_which_it_is(case, helm):
    """The main workload is the type's kind and carries chartgen.io/type (what a later upgrade
    reads); a StatefulSet's claims are the declared claim template, named as the type rule says."""
    spec, chart = case
    objects = helm.template(chart.path, "r", values=_set({}, spec.replicas_field, case.top()))
    (main,) = [o for o in _kinds(objects, case.kind()) if o["spec"]["selector"]["matchLabels"]
               ["app.kubernetes.io/component"] == spec.main.component]
    assert main["metadata"]["annotations"]["chartgen.io/type"] == case.chart_type
    other = "Deployment" if case.kind() == "StatefulSet" else "StatefulSet"
    assert not [o for o in _kinds(objects, other) if o["spec"]["selector"]["matchLabels"]
                ["app.kubernetes.io/component"] == spec.main.component]
    if case.kind() == "StatefulSet" and main["spec"].get("volumeClaimTemplates"):
        assert spec.main.claim in [t["metadata"]["name"] for t in main["spec"]["volumeClaimTemplates"]]


@pytest.mark.parametrize("release,namespace,domain", [("r", "default", "cluster.local"), ("prod", "data", "k8s.example")])
def test_rendered_peers_match_python_topology(case, helm, release, namespace, domain):
    spec, chart = case
    for n in case.counts():
        values = _set({"clusterDomain": domain}, spec.replicas_field, n)
        objects = helm.template(chart.path, release, namespace, values)
        for sts in _kinds(objects, "StatefulSet"):
            peers = Peers(sts["metadata"]["name"], sts["spec"]["serviceName"], namespace, domain)
            listed = rendered_peer_lists(objects, peers.fullname)
            assert listed, f"{spec.name}: no PEERS rendered for {peers.fullname}"
            for where, fqdns in listed:
                assert fqdns == peers.fqdns(sts["spec"]["replicas"]), where
            assert sts["spec"]["replicas"] == n


def test_pdb_keeps_the_majority(case, helm):
    spec, chart = case
    for n in case.counts():
        objects = helm.template(chart.path, spec.name, values=_set({}, spec.replicas_field, n))
        pdbs = _kinds(objects, "PodDisruptionBudget")
        if not spec.quorum:
            continue
        if n == 1:
            assert pdbs == []  # a budget of 0 would block every drain forever
            continue
        sts = _kinds(objects, "StatefulSet")[0]
        (pdb,) = [p for p in pdbs if p["spec"]["selector"] == sts["spec"]["selector"]]
        assert pdb["spec"]["maxUnavailable"] == fault_tolerance(n)
    off = helm.template(chart.path, spec.name, values=_set({"pdb": {"create": False}}, spec.replicas_field, case.top()))
    assert _kinds(off, "PodDisruptionBudget") == []


# -- scheduling ---------------------------------------------------------------------------
def test_anti_affinity_presets_and_topology_spread(case, helm):
    spec, chart = case
    def pod(values):
        objects = helm.template(chart.path, spec.name, values=values)
        sts = _kinds(objects, case.kind())[0]
        return sts, _pod_spec(sts)
    sts, hard = pod({"podAntiAffinityPreset": "hard"})
    (term,) = hard["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"] == sts["spec"]["selector"]  # the members only, not hook pods
    _, soft = pod({})
    assert "preferredDuringSchedulingIgnoredDuringExecution" in soft["affinity"]["podAntiAffinity"]
    _, off = pod({"podAntiAffinityPreset": ""})
    assert "affinity" not in off
    mine = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}
    assert pod({"affinity": mine})[1]["affinity"] == mine
    spread = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}
    sts, spec_ = pod({"topologySpreadConstraints": [spread]})
    (rendered,) = spec_["topologySpreadConstraints"]
    assert rendered == {**spread, "labelSelector": sts["spec"]["selector"]}


# -- secrets ------------------------------------------------------------------------------
def _generated_secrets(objects):
    return [o for o in _kinds(objects, "Secret") if o["metadata"].get("annotations", {}).get("helm.sh/resource-policy")]


def test_generated_secrets_are_kept_and_never_in_values(case, helm):
    spec, chart = case
    objects = helm.template(chart.path, spec.name, values=_all_secrets_on(spec))
    secrets = _kinds(objects, "Secret")
    values_text = (chart.path / "values.yaml").read_text()
    for secret in secrets:
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", secret["metadata"]["name"]
        for value in (secret.get("data") or {}).values():
            plain = base64.b64decode(value).decode(errors="replace")
            assert plain not in values_text
            assert plain not in json.dumps([o for o in objects if o["kind"] != "Secret"])


def test_an_upgrade_that_cannot_see_the_cluster_refuses_to_regenerate_secrets(case, helm):
    """helm template --is-upgrade (like --dry-run=client or a GitOps renderer): lookup is blind,
    so a generated secret would change; the chart fails and names the value to set."""
    spec, chart = case
    values = _all_secrets_on(spec)
    generates = bool(_kinds(helm.template(chart.path, spec.name, values=values), "Secret"))
    values["typeSwitch"] = {"acknowledgeDataLoss": True}  # only the Secret's rule here
    if not generates:  # nothing to keep: a blind upgrade renders
        assert helm.template(chart.path, spec.name, values=values, is_upgrade=True)
        return
    with pytest.raises(HelmError) as err:
        helm.template(chart.path, spec.name, values=values, is_upgrade=True)
    text = err.value.__cause__.stderr.decode()
    assert "rendered without access to the cluster" in text and "existingSecret" in text


def _all_secrets_on(spec):
    """Values that make the chart generate every secret it can (auth, TLS)."""
    defaults = yaml.safe_load(values_mod.dump(library.compose_values(spec)))
    values = {}
    if isinstance(defaults.get("auth"), dict) and "enabled" in defaults["auth"]:
        values["auth"] = {"enabled": True}
    if isinstance(defaults.get("tls"), dict):
        values["tls"] = {k: True for k, v in defaults["tls"].items() if isinstance(v, bool)}
    return values


# -- network policy -----------------------------------------------------------------------
def test_network_policy_lets_members_talk_and_clients_in(case, helm):
    spec, chart = case
    objects = helm.template(chart.path, spec.name)
    for w in spec.workloads:
        sts = next(o for o in _kinds(objects, case.kind(w)) if o["spec"]["selector"]["matchLabels"]
                   ["app.kubernetes.io/component"] == w.component)
        (np,) = [p for p in _kinds(objects, "NetworkPolicy") if p["spec"]["podSelector"] == sts["spec"]["selector"]]
        ingress = np["spec"]["ingress"]
        ports = {p["name"] for c in _pod_spec(sts)["containers"] for p in c.get("ports", [])}
        peer = next(r for r in ingress if r.get("from") and "podSelector" in r["from"][0]
                    and r["from"][0]["podSelector"] == sts["spec"]["selector"])
        peer_ports, client_ports = _policy_ports(w, chart, case.chart_type)
        assert [p["port"] for p in peer["ports"]] == peer_ports
        client = next(r for r in ingress if "from" not in r)
        assert [p["port"] for p in client["ports"]] == client_ports
        assert set(peer_ports + client_ports) <= ports, "policy ports must be the pods' named ports"
        assert np["spec"]["egress"] == [{}]
    closed = helm.template(chart.path, "r", values={"networkPolicy": {"allowExternal": False, "allowExternalEgress": False,
                                                                      "ingressNSMatchLabels": {"team": "a"}}})
    np = _kinds(closed, "NetworkPolicy")[0]
    client = next(r for r in np["spec"]["ingress"] if r.get("ports") and r.get("from") and
                  "namespaceSelector" in r["from"][-1])
    label = next(iter(client["from"][0]["podSelector"]["matchLabels"].items()))
    assert label[0].endswith("-client") and label[1] == "true"
    assert client["from"][1]["namespaceSelector"]["matchLabels"] == {"team": "a"}
    for helper in _kinds(closed, "Pod") + [j["spec"]["template"] for j in _kinds(closed, "Job")]:
        assert helper["metadata"]["labels"].get(label[0]) == "true", "test and hook pods are clients"
    egress_ports = {p["port"] for r in np["spec"]["egress"] for p in r.get("ports", [])}
    assert {53, 443, 6443} <= egress_ports
    assert _kinds(helm.template(chart.path, "r", values={"networkPolicy": {"enabled": False}}), "NetworkPolicy") == []


def _policy_ports(w, chart, chart_type):
    """The ports a workload's NetworkPolicy opens to peers and clients: its declared ones (less
    those only -multi types open, in a -single chart), or every port its values list."""
    if w.ports_from:
        names = [p["name"] for p in library.read_path(chart.values, w.ports_from)]
        return names, names
    drop = set(w.multi_ports) if presets.is_single(chart_type) else set()
    return [p for p in w.peer_ports if p not in drop], [p for p in w.client_ports if p not in drop]


# -- images -------------------------------------------------------------------------------
def test_images_come_from_the_pins_and_a_digest_pins_by_content(case, helm):
    spec, chart = case
    digest = "sha256:" + "a" * 64

    def refs(objects):
        return {c["image"] for o in objects if o["kind"] in ("StatefulSet", "Deployment", "Job", "Pod")
                for c in _pod_spec(o).get("containers", []) + _pod_spec(o).get("initContainers", [])}

    used = refs(helm.template(chart.path, spec.name))
    pinned = [path for path in spec.images  # e.g. a -single Redis runs no kubectl sidecar
              if str(ImageRef(**{k: v for k, v in library.read_path(chart.values, path).items()
                                 if k in ("registry", "repository", "tag", "digest")})) in used]
    assert pinned, f"{spec.name}: no pinned image is used"
    for path in pinned:
        values = _set({}, f"{path}.digest", digest)
        objects = helm.template(chart.path, spec.name, values=values)
        assert any(r.endswith(f"@{digest}") for r in refs(objects)), path
    with pytest.raises(HelmError, match="digest"):
        helm.template(chart.path, spec.name, values=_set({}, f"{next(iter(spec.images))}.digest", "latest"))


def test_containers_call_only_what_their_image_holds(case, helm):
    """A command, probe or hook naming a program its image lacks (or a shell in an image that
    has none) fails here, not on a user's cluster."""
    spec, chart = case
    objects = helm.template(chart.path, spec.name, values=_all_secrets_on(spec))
    for obj in objects:
        if obj["kind"] not in ("StatefulSet", "Deployment", "Job", "Pod"):
            continue
        pod = _pod_spec(obj)
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            # a container running its image's own entrypoint (a component's) calls nothing of ours
            commands = [c.get("command") or []]
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                commands.append(((c.get(probe) or {}).get("exec") or {}).get("command") or [])
            commands.append(((((c.get("lifecycle") or {}).get("preStop")) or {}).get("exec") or {}).get("command") or [])
            for argv in commands:
                if not argv:
                    continue
                try:
                    t = tools(key_of(c["image"]))
                    t.resolve(argv[0])
                except MissingTool as err:
                    pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} container {c['name']}: {err}")


# -- names --------------------------------------------------------------------------------
def test_every_name_fits_at_the_longest_allowed_chart_name(case, helm, tmp_path):
    """Render with a chart (and release) name of the longest length generate accepts and hold
    every real object name, label value and pod name against Kubernetes' limits."""
    spec, _ = case
    longest = spec.max_name_length()
    name = ("n" * longest)[:longest]
    chart = generate(spec, name, tmp_path / name, chart_type=case.chart_type)
    top = 1 if presets.is_single(case.chart_type) else 7 if spec.quorum else 3
    objects = helm.template(chart.path, name, values=_set(_all_secrets_on(spec), spec.replicas_field, top))
    for obj in objects:
        meta = obj["metadata"]
        limit = 52 if obj["kind"] == "StatefulSet" else 63
        assert len(meta["name"]) <= limit, f"{obj['kind']}/{meta['name']}: {len(meta['name'])} > {limit}"
        for key, value in (meta.get("labels") or {}).items():
            assert len(str(value)) <= 63 and len(key.split("/")[-1]) <= 63, f"{obj['kind']}/{meta['name']} label {key}"
        if obj["kind"] == "StatefulSet":
            assert len(f"{meta['name']}-{obj['spec']['replicas'] - 1}") <= 63
    with pytest.raises(InvalidValueError, match=f"at most {longest} characters"):
        generate(spec, "n" * (longest + 1), tmp_path / "too-long", chart_type=case.chart_type)


# -- self-description ---------------------------------------------------------------------
def test_the_chart_describes_itself(case):
    spec, chart = case
    about = describe.read(chart.metadata["annotations"])
    assert about.preset == spec.name and about.replicas_field == spec.replicas_field
    assert about.majority == spec.quorum
    assert about.type == case.chart_type == chart.values["type"]
    assert [w.component for w in about.workloads] == [w.component for w in spec.workloads]
    assert [w.kind for w in about.workloads] == [case.kind(w) for w in spec.workloads]
    assert chart.version == spec.version
    assert (chart.path / "templates" / "NOTES.txt").is_file() and (chart.path / "values.schema.json").is_file()


def test_helm_test_pod_exists(case, helm):
    spec, chart = case
    tests = [o for o in helm.template(chart.path, spec.name)
             if o["kind"] == "Pod" and o["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    assert tests, f"{spec.name}: no helm test"


def test_scripts_pass_shellcheck(case):
    spec, chart = case
    import shutil
    import subprocess

    assert shutil.which("shellcheck"), "shellcheck is missing (make host-deps installs it)"
    scripts = sorted(Path(chart.path, "files").glob("*.sh"))
    # warnings and errors; sourced libraries set variables for their callers (SC2034), and
    # `a= b=` lines set several empty variables on purpose (SC1007)
    proc = subprocess.run(["shellcheck", "-s", "sh", "-x", "-S", "warning", "-e", "SC1091,SC2034,SC1007",
                           *map(str, scripts)],
                          capture_output=True, text=True, cwd=chart.path / "files")
    assert proc.returncode == 0, proc.stdout


# -- a peer linter ------------------------------------------------------------------------
CHECKOV_SKIPS = yaml.safe_load((Path(__file__).with_name("checkov-skips.yaml")).read_text())


def test_checkov_flags_only_the_choices_the_readme_explains(case, helm, tmp_path):
    import subprocess

    from tests.conftest import ROOT

    spec, chart = case
    from tests.infra import shelf

    checkov = str(shelf.path("checkov"))
    objects = helm.template(chart.path, spec.name, "db", _all_secrets_on(spec))
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(objects))
    proc = subprocess.run([checkov, "-f", str(rendered), "--framework", "kubernetes", "--quiet", "--compact",
                           "-o", "json"], capture_output=True, text=True)
    report = json.loads(proc.stdout)
    failed = {(f["check_id"], f["resource"]) for r in (report if isinstance(report, list) else [report])
              for f in r["results"]["failed_checks"]}
    unexplained = sorted(f"{check} on {resource}" for check, resource in failed if check not in CHECKOV_SKIPS)
    assert not unexplained, "checkov flags choices the README does not explain: " + "; ".join(unexplained)
    readme = (ROOT / "README.md").read_text()
    assert all(check in readme for check in CHECKOV_SKIPS), "explain every skipped check in README.md"
