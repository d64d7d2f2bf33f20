import yaml

from chartgen import presets


def test_etcd_is_listed_with_a_description():
    names = presets.names()
    assert "etcd" in names
    assert all(p.description for p in presets.all_presets())


def _keys(values, prefix=""):
    for key, value in values.items():
        yield prefix + key
        if isinstance(value, dict) and value:
            yield from _keys(value, prefix + key + ".")


def _schema_has(schema, dotted):
    node = schema
    for part in dotted.split("."):
        if node.get("x-leaf") or (node.get("type") == "object" and "properties" not in node):
            return True
        props = node.get("properties", {})
        if part not in props:
            return False
        node = props[part]
    return True


def test_every_default_value_is_described_in_the_schema():
    for spec in presets.all_presets():
        values = yaml.safe_load(spec.default_values_file.read_text())
        missing = [k for k in _keys(values) if not _schema_has(spec.schema, k)]
        assert not missing, f"{spec.name}: values without schema entry: {missing}"


def test_quorum_presets_default_to_an_odd_count():
    for spec in presets.all_presets():
        if spec.quorum:
            assert spec.default_replicas % 2 == 1 and spec.default_replicas >= 3


def test_name_limit_leaves_room_for_suffixes():
    spec = presets.load("etcd")
    assert spec.max_name_length() + max(len(s) for s in spec.object_suffixes) <= 63
    assert spec.max_name_length() <= 52
