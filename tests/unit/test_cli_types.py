"""--type, --image, --port, --storage, --env and the -single rule on the command line: what they
write into a chart, and every bad input refused with one line that names the flag and the fix,
a non-zero exit and nothing written."""

import pytest
import yaml

from tests.conftest import run_cli
from tests.unit.test_cli import _assert_clean_failure

IMAGE = "ghcr.io/acme/app:1.4.2"


def _values(out):
    return yaml.safe_load((out / "values.yaml").read_text())


def _chart(out):
    return yaml.safe_load((out / "Chart.yaml").read_text())


@pytest.mark.parametrize("chart_type,kind", [("stateful-single", "StatefulSet"), ("stateful-multi", "StatefulSet"),
                                             ("stateless-single", "Deployment"), ("stateless-multi", "Deployment")])
def test_component_types_are_recorded(tmp_path, chart_type, kind):
    out = tmp_path / "web"
    proc = run_cli("generate", "--preset", "component", "--type", chart_type, "--name", "web", "--image", IMAGE,
                   "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    values, meta = _values(out), _chart(out)
    assert values["type"] == chart_type and meta["annotations"]["chartgen.io/type"] == chart_type
    assert yaml.safe_load(meta["annotations"]["chartgen.io/workloads"])[0]["kind"] == kind
    assert values["replicaCount"] == (1 if chart_type.endswith("-single") else 3 if chart_type == "stateful-multi" else 2)
    assert values["persistence"]["enabled"] is chart_type.startswith("stateful-")  # stateless: no own data
    assert f"type **{chart_type}**" in (out / "README.md").read_text()


def test_component_flags_become_values(tmp_path):
    out = tmp_path / "web"
    proc = run_cli("generate", "--preset", "component", "--type", "stateful-multi", "--name", "web",
                   "--image", "registry.local:5000/team/web@sha256:" + "b" * 64, "--port", "http=8080",
                   "--port", "9090", "--storage", "5Gi", "--replicas", "5", "--env", "LOG_LEVEL=debug",
                   "--env", "EMPTY=", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    values = _values(out)
    assert values["image"] == {"registry": "registry.local:5000", "repository": "team/web", "tag": "latest",
                               "digest": "sha256:" + "b" * 64, "pullPolicy": "IfNotPresent"}
    assert values["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"},
                               {"name": "port-9090", "port": 9090, "protocol": "TCP"}]
    assert values["persistence"]["size"] == "5Gi" and values["persistence"]["enabled"] is True
    assert values["replicaCount"] == 5 and values["env"] == {"LOG_LEVEL": "debug", "EMPTY": ""}
    assert _chart(out)["appVersion"] == "latest"


def test_stateless_multi_storage_is_a_shared_claim(tmp_path):
    out = tmp_path / "web"
    proc = run_cli("generate", "--preset", "component", "--type", "stateless-multi", "--name", "web", "--image", IMAGE,
                   "--storage", "2Gi", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    persistence = _values(out)["persistence"]
    assert (persistence["enabled"], persistence["size"], persistence["accessModes"]) == (True, "2Gi", ["ReadWriteMany"])


def test_the_type_as_a_set_value_chooses_its_defaults(tmp_path):
    out = tmp_path / "web"
    proc = run_cli("generate", "--preset", "component", "--name", "web", "--image", IMAGE,
                   "--set", "type=stateless-multi", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert _values(out)["type"] == "stateless-multi" and _values(out)["replicaCount"] == 2


@pytest.mark.parametrize("preset", ["etcd", "redis"])
def test_database_presets_offer_stateful_single(tmp_path, preset):
    out = tmp_path / preset
    proc = run_cli("generate", "--preset", preset, "--type", "stateful-single", "--name", preset, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    values = _values(out)
    assert values["type"] == "stateful-single" and values["replicaCount"] == 1
    if preset == "redis":  # what one instance does not need, turned off by declaration
        assert values["roleLabels"]["enabled"] is False and values["preStopHandover"]["enabled"] is False
    assert _chart(out)["annotations"]["chartgen.io/type"] == "stateful-single"


# -- bad input: one line, the flag, the fix -------------------------------------------------------

@pytest.mark.parametrize("preset,chart_type", [("etcd", "stateless-multi"), ("redis", "stateless-single")])
def test_a_stateless_type_for_a_database_is_refused_with_the_reason(tmp_path, preset, chart_type):
    proc = run_cli("generate", "--preset", preset, "--type", chart_type, "--name", "x", "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, f"--type {chart_type}", "keeps its own data per instance",
                          "must be stateful", "stateful-multi or stateful-single")


def test_an_unknown_type(tmp_path):
    proc = run_cli("generate", "--preset", "component", "--type", "stateful", "--name", "x", "--image", IMAGE,
                   "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "--type 'stateful'", "not a deployment type", "stateless-multi")


def test_an_unknown_type_by_set(tmp_path):
    proc = run_cli("generate", "--preset", "etcd", "--set", "type=stateless-multi", "--name", "x",
                   "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "type= stateless-multi", "must be stateful")


def test_type_and_set_type_disagree(tmp_path):
    proc = run_cli("generate", "--preset", "component", "--type", "stateful-multi", "--set", "type=stateless-multi",
                   "--name", "x", "--image", IMAGE, "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "--type stateful-multi and type=stateless-multi", "disagree")


@pytest.mark.parametrize("chart_type", ["stateful-single", "stateless-single"])
def test_single_types_refuse_more_replicas(tmp_path, chart_type):
    proc = run_cli("generate", "--preset", "component", "--type", chart_type, "--replicas", "3", "--name", "x",
                   "--image", IMAGE, "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "--replicas 3", f"type {chart_type} runs exactly one instance",
                          f"--type {chart_type.replace('-single', '-multi')}")


def test_single_type_refuses_more_replicas_by_set(tmp_path):
    proc = run_cli("generate", "--preset", "etcd", "--type", "stateful-single", "--set", "replicaCount=3",
                   "--name", "x", "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "replicaCount=3", "runs exactly one instance", "type=stateful-multi")


def test_the_component_needs_an_image(tmp_path):
    proc = run_cli("generate", "--preset", "component", "--name", "x", "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "--image:", "no default for image.repository", "pass --image IMAGE[:TAG]")


@pytest.mark.parametrize("image", ["Acme/App:1", "app:", "app:1@sha256:123", "-app", "ghcr.io//app", "app:a b"])
def test_a_bad_image(tmp_path, image):
    proc = run_cli("generate", "--preset", "component", "--name", "x", f"--image={image}", "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, f"--image {image!r}", "not an image reference", "REPOSITORY[:TAG]")


@pytest.mark.parametrize("port,needle", [("http", "expected [NAME=]NUMBER"), ("0", "1-65535"), ("70000", "1-65535"),
                                         ("Web=80", "port name 'Web'"), ("a-very-long-port-name=80", "at most 15"),
                                         ("80=80", "at least one letter")])
def test_a_bad_port(tmp_path, port, needle):
    proc = run_cli("generate", "--preset", "component", "--name", "x", "--image", IMAGE, f"--port={port}",
                   "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, f"--port {port!r}", needle)


def test_a_port_given_twice(tmp_path):
    proc = run_cli("generate", "--preset", "component", "--name", "x", "--image", IMAGE, "--port", "http=80",
                   "--port", "web=80", "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "--port 'web=80'", "given twice")


def test_ports_of_a_database_are_its_own(tmp_path):
    proc = run_cli("generate", "--preset", "etcd", "--name", "x", "--port", "2379", "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "--port:", "declares its own ports", "--set")


@pytest.mark.parametrize("size", ["10GB", "ten", "-1Gi", ""])
def test_a_bad_storage_size(tmp_path, size):
    proc = run_cli("generate", "--preset", "component", "--name", "x", "--image", IMAGE, f"--storage={size}",
                   "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, f"--storage {size!r}", "not a Kubernetes quantity", "10Gi")


@pytest.mark.parametrize("env,needle", [("LOG_LEVEL", "expected NAME=VALUE"), ("1X=2", "NAME '1X'"), ("=v", "NAME ''")])
def test_a_bad_env(tmp_path, env, needle):
    proc = run_cli("generate", "--preset", "component", "--name", "x", "--image", IMAGE, f"--env={env}",
                   "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, f"--env {env!r}", needle)


def test_env_of_a_database_is_its_scripts(tmp_path):
    proc = run_cli("generate", "--preset", "redis", "--name", "x", "--env", "A=b", "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "--env:", "no free-form environment")


def test_stateless_multi_with_a_read_write_once_volume(tmp_path):
    proc = run_cli("generate", "--preset", "component", "--type", "stateless-multi", "--name", "x", "--image", IMAGE,
                   "--storage", "1Gi", "--set", "persistence.accessModes=[ReadWriteOnce]", "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "persistence.accessModes must include ReadWriteMany", "stateless-multi")


def test_autoscaling_needs_stateless_multi(tmp_path):
    proc = run_cli("generate", "--preset", "component", "--type", "stateful-multi", "--name", "x", "--image", IMAGE,
                   "--set", "autoscaling.enabled=true", "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "autoscaling.enabled needs type stateless-multi")


def test_install_type_and_image_go_with_preset_only(tmp_path):
    chart = tmp_path / "c"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    proc = run_cli("install", "--chart", str(chart), "--release", "r", "--type", "stateful-single")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and "--type/--image" in lines[0] and "--set type=" in lines[0]
    proc = run_cli("install", "--chart", str(chart), "--release", "r", "--flavor", "valkey")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and "--flavor" in lines[0] and "has its flavor" in lines[0]
    proc = run_cli("install", "--preset", "redis", "--release", "r", "--flavor", "keydb")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and "flavors redis, valkey" in lines[0]
