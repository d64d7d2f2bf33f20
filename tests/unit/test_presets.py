import yaml

from chartgen import library, presets, values


def test_presets_are_listed_with_a_description():
    names = presets.names()
    assert {"etcd", "redis"} <= set(names)
    assert all(p.description for p in presets.all_presets())
    assert "_library" not in names


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
        for flavor in spec.flavors or (None,):
            defaults = yaml.safe_load(values.dump(library.compose_values(spec, flavor)))
            schema = library.compose_schema(spec, spec.name)
            missing = [k for k in _keys(defaults) if not _schema_has(schema, k)]
            assert not missing, f"{spec.name}: values without schema entry: {missing}"


def test_quorum_presets_default_to_an_odd_count():
    for spec in presets.all_presets():
        if spec.quorum:
            n = library.default_replicas(spec)
            assert n % 2 == 1 and n >= 3, spec.name


def test_image_blocks_come_from_the_pins(monkeypatch):
    from chartgen.versions import image

    for spec in presets.all_presets():
        defaults = yaml.safe_load(values.dump(library.compose_values(spec)))
        for path, key in spec.images.items():
            block = library.read_path(defaults, path)
            assert {k: block[k] for k in ("registry", "repository", "tag", "digest")} == image(key).values(), path
