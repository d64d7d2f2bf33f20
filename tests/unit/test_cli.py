"""Every CLI error: one clear line naming the field and the fix, non-zero exit, no output left."""

import os

import pytest
import yaml

from tests.conftest import run_cli


def _assert_clean_failure(proc, tmp_path, *needles):
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    leftovers = [p for p in os.listdir(tmp_path) if p not in ("values.yaml", "bad.yaml", "existing")]
    assert leftovers == [], f"partial output left behind: {leftovers}"


def test_presets_lists_etcd():
    proc = run_cli("presets")
    assert proc.returncode == 0
    assert proc.stdout.startswith("etcd") or "\netcd " in proc.stdout


def test_generate_writes_a_chart(tmp_path):
    out = tmp_path / "kv"
    proc = run_cli("generate", "--preset", "etcd", "--name", "kv", "--replicas", "5",
                   "--set", "persistence.size=20Gi", "--namespace", "data", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    values = yaml.safe_load((out / "values.yaml").read_text())
    assert values["replicaCount"] == 5
    assert values["persistence"]["size"] == "20Gi"
    assert values["namespaceOverride"] == "data"
    assert yaml.safe_load((out / "Chart.yaml").read_text())["name"] == "kv"
    assert "# -- Number of members" in (out / "values.yaml").read_text()  # comments kept


def test_unknown_preset_lists_valid_ones(tmp_path):
    proc = run_cli("generate", "--preset", "zookeepr", "--name", "x", "--output", str(tmp_path / "x"))
    _assert_clean_failure(proc, tmp_path, "--preset 'zookeepr'", "etcd")


@pytest.mark.parametrize("n,hint", [(4, "use 3 or 5"), (2, "use 1 or 3"), (0, "at least 1")])
def test_even_or_zero_replicas_are_explained(tmp_path, n, hint):
    proc = run_cli("generate", "--preset", "etcd", "--name", "e", "--replicas", str(n),
                   "--output", str(tmp_path / "e"))
    _assert_clean_failure(proc, tmp_path, f"replicaCount={n}", hint)


def test_even_replicas_via_set_are_refused(tmp_path):
    proc = run_cli("generate", "--preset", "etcd", "--name", "e", "--set", "replicaCount=6",
                   "--output", str(tmp_path / "e"))
    _assert_clean_failure(proc, tmp_path, "6 members tolerate 2 failure", "use 5 or 7")


@pytest.mark.parametrize("name", ["My_Etcd", "-etcd", "etcd-", "etcd.prod", ""])
def test_name_must_be_a_dns_label(tmp_path, name):
    proc = run_cli("generate", "--preset", "etcd", f"--name={name}", "--output", str(tmp_path / "n"))
    _assert_clean_failure(proc, tmp_path, "--name", "DNS-1123")


def test_name_too_long_for_derived_names(tmp_path):
    name = "e" * 53
    proc = run_cli("generate", "--preset", "etcd", "--name", name, "--output", str(tmp_path / "n"))
    _assert_clean_failure(proc, tmp_path, "too long", "at most")


def test_existing_output_needs_force(tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    proc = run_cli("generate", "--preset", "etcd", "--name", "e", "--output", str(existing))
    _assert_clean_failure(proc, tmp_path, "already exists", "--force")
    assert (existing / "keep.txt").read_text() == "mine"
    # --force replaces a chart, never someone's folder
    forced = run_cli("generate", "--preset", "etcd", "--name", "e", "--output", str(existing), "--force")
    _assert_clean_failure(forced, tmp_path, "holds no chart", "--force replaces only a chart directory")
    assert (existing / "keep.txt").read_text() == "mine"
    (existing / "keep.txt").unlink()
    assert run_cli("generate", "--preset", "etcd", "--name", "e", "--output", str(existing)).returncode != 0
    assert run_cli("generate", "--preset", "etcd", "--name", "e", "--output", str(existing), "--force").returncode == 0
    (existing / "README.md").write_text("old chart")
    forced = run_cli("generate", "--preset", "etcd", "--name", "e", "--output", str(existing), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (existing / "README.md").read_text() != "old chart" and (existing / "Chart.yaml").is_file()
    assert sorted(os.listdir(tmp_path)) == ["existing"]


def test_missing_values_file(tmp_path):
    proc = run_cli("generate", "--preset", "etcd", "--name", "e", "--values", str(tmp_path / "nope.yaml"),
                   "--output", str(tmp_path / "e"))
    _assert_clean_failure(proc, tmp_path, "--values", "not found")


def test_malformed_values_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("replicaCount: [3\n  persistence: {")
    proc = run_cli("generate", "--preset", "etcd", "--name", "e", "--values", str(bad),
                   "--output", str(tmp_path / "e"))
    _assert_clean_failure(proc, tmp_path, "not valid YAML")


def test_values_file_is_merged_and_checked(tmp_path):
    good = tmp_path / "values.yaml"
    good.write_text("replicaCount: 5\nauth:\n  enabled: true\n")
    proc = run_cli("generate", "--preset", "etcd", "--name", "e", "--values", str(good),
                   "--output", str(tmp_path / "e"))
    assert proc.returncode == 0, proc.stderr
    values = yaml.safe_load((tmp_path / "e" / "values.yaml").read_text())
    assert values["replicaCount"] == 5 and values["auth"]["enabled"] is True
    assert values["auth"]["existingSecretPasswordKey"] == "root-password"  # siblings kept
    good.write_text("replicaCount: 5\nauthh: {}\n")
    proc = run_cli("generate", "--preset", "etcd", "--name", "f", "--values", str(good),
                   "--output", str(tmp_path / "f"))
    assert proc.returncode != 0 and "unknown key 'authh'" in proc.stderr


def test_unknown_set_key(tmp_path):
    proc = run_cli("generate", "--preset", "etcd", "--name", "e", "--set", "persistence.sise=1Gi",
                   "--output", str(tmp_path / "e"))
    _assert_clean_failure(proc, tmp_path, "--set persistence.sise", "unknown key 'sise'", "size")


def test_set_without_equals(tmp_path):
    proc = run_cli("generate", "--preset", "etcd", "--name", "e", "--set", "replicaCount",
                   "--output", str(tmp_path / "e"))
    _assert_clean_failure(proc, tmp_path, "expected key=value")


def test_set_with_wrong_type_is_refused_by_the_schema(tmp_path):
    proc = run_cli("generate", "--preset", "etcd", "--name", "e", "--set", "auth.enabled=maybe",
                   "--output", str(tmp_path / "e"))
    _assert_clean_failure(proc, tmp_path, "auth.enabled", "boolean")


def test_replicas_must_be_a_number(tmp_path):
    proc = run_cli("generate", "--preset", "etcd", "--name", "e", "--replicas", "three",
                   "--output", str(tmp_path / "e"))
    _assert_clean_failure(proc, tmp_path, "--replicas", "whole number")


def test_lint_of_a_missing_chart(tmp_path):
    proc = run_cli("lint", str(tmp_path / "none"))
    assert proc.returncode != 0 and "does not exist" in proc.stderr
