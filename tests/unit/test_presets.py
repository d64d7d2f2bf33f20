import pytest
import yaml

from chartgen import library, options, presets, values


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
            for chart_type in spec.types:
                defaults = yaml.safe_load(values.dump(library.compose_values(spec, flavor, chart_type)))
                schema = library.compose_schema(spec, spec.name)
                missing = [k for k in _keys(defaults) if not _schema_has(schema, k)]
                assert not missing, f"{spec.name} {chart_type}: values without schema entry: {missing}"
                assert defaults["type"] == chart_type and schema["properties"]["type"]["enum"] == list(spec.types)


def test_types_are_declared_with_their_defaults(tmp_path):
    """types (the first is the default), singleValues (stateful-single's) and typeValues (any
    type's): what a preset declares to offer a type; unknown ones are refused with the file."""
    base = {"name": "x", "description": "d", "version": "0.1.0", "workloads": [{"component": "m"}]}
    spec = presets.parse({**base, "types": ["stateful-multi", "stateful-single"],
                          "singleValues": {"replicaCount": 1, "a.b": False},
                          "typeValues": {"stateful-single": {"a.b": True}}}, tmp_path)
    assert spec.default_type == "stateful-multi" and not spec.stateless_allowed
    assert spec.values_for_type("stateful-single") == {"replicaCount": 1, "a.b": True}
    assert spec.values_for_type("stateful-multi") == {}
    with pytest.raises(ValueError, match="not among"):
        presets.parse({**base, "types": ["stateful"]}, tmp_path)
    with pytest.raises(ValueError, match="typeValues for"):
        presets.parse({**base, "typeValues": {"stateless-multi": {}}}, tmp_path)
    with pytest.raises(ValueError, match="kind 'Job'"):
        presets.parse({**base, "workloads": [{"component": "m", "kind": "Job"}]}, tmp_path)
    follows = presets.parse({**base, "workloads": [{"component": "m", "kind": "fromType"}]}, tmp_path).main
    assert follows.resolved_kind("stateful-single") == "StatefulSet" and follows.resolved_kind("stateless-multi") == "Deployment"
    assert follows.describe("stateless-single")["kind"] == "Deployment" and follows.describe("stateless-single")["headlessSuffix"] == ""


def test_single_types_pin_the_count_in_the_schema():
    import jsonschema

    for spec in presets.all_presets():
        schema = library.compose_schema(spec, spec.name)
        for chart_type in spec.types:
            composed = library.compose_values(spec, None, chart_type)
            if "image" in spec.example:  # a component has no image of its own
                for path, value in options.image_values(spec.example["image"]).items():
                    values.set_path(composed, path.split("."), value)
            defaults = yaml.safe_load(values.dump(composed))
            jsonschema.validate(defaults, schema)
            if chart_type.endswith("-single"):
                with pytest.raises(jsonschema.ValidationError, match="runs exactly one instance"):
                    jsonschema.validate({**defaults, spec.replicas_field: 3}, schema)


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


def test_every_comment_stays_above_its_key():
    """values.yaml of a chart keeps every comment of the preset's and the library's values.yaml,
    above the key it documents (ruamel keeps them after the previous leaf, where a merge or a
    reordering would carry them off)."""
    from chartgen.presets import library_dir

    def documented(text):
        """{dotted path of the first key after a comment block: the block}"""
        out, block, stack = {}, [], []
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("#") and not stripped.startswith("##"):
                block.append(stripped)
                continue
            if not stripped or stripped.startswith("- ") or ":" not in stripped:
                if stripped:
                    block = []
                continue
            indent = len(line) - len(line.lstrip())
            stack = [(i, k) for i, k in stack if i < indent] + [(indent, stripped.split(":")[0])]
            if block:
                out[".".join(k for _, k in stack)] = block
            block = []
        return out

    library = documented((library_dir() / "values.yaml").read_text())
    for spec in presets.all_presets():
        composed = values.dump(_compose(spec))
        have = documented(composed)
        own = documented((spec.path / "values.yaml").read_text())
        for key, block in {**library, **own}.items():
            if key in have or key in own:
                assert have.get(key) == block, f"{spec.name}: the comment above {key!r} is {have.get(key)}, not {block}"


def _compose(spec):
    return library.compose_values(spec)
