"""Every generated chart README (each preset x flavor x deployment type) is well-formed Markdown:
the `.j2` splices of flavor- and type-specific text leave one bullet per line, no bullet glued to
the end of a paragraph, no doubled punctuation or spaces where two texts met, balanced code
spans, tables whose rows all have their header's column count, and headings in order."""

from __future__ import annotations

import re

import pytest

import chartgen
from chartgen.presets import load, names


def _cases():
    for preset in names():
        p = load(preset)
        flavors = [f.name for f in p.flavors] or [None]
        for flavor in flavors:
            for type_ in p.types:
                yield pytest.param(preset, flavor, type_, id=f"{preset}-{flavor or 'default'}-{type_}")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("readmes")


def _readme(out, preset, flavor, type_) -> str:
    extra = {"image": "ghcr.io/acme/web:1.4"} if preset == "component" else {}
    chart = chartgen.generate(preset, preset, flavor=flavor, type=type_, output=out / f"{preset}-{flavor}-{type_}",
                              **extra)
    return (chart.path / "README.md").read_text()


def _prose(text: str) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, numbered from 1."""
    lines, fenced = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((n, line))
    return lines


def problems(text: str) -> list[str]:
    found = []
    prose = _prose(text)
    level = 0
    table_cols = None
    span_open = None  # the line where a code span that wraps onto the next lines opened
    for n, line in prose:
        text_part = line
        if span_open is not None:  # the start of this line is inside a wrapped code span
            if "`" not in line:
                continue
            text_part = line.split("`", 1)[1]
            span_open = None
        if text_part.count("`") % 2:
            span_open = n
            text_part = text_part.rsplit("`", 1)[0]
        if not line.strip() and span_open is not None:
            found.append(f"{span_open}: a code span never closed")
            span_open = None
        code_free = re.sub(r"`[^`]*`", "``", text_part)
        # a bullet glued to the end of a sentence: "...them).- **Every member**"
        if re.search(r"[.)\]:;!?]- \*\*|\S- \*\*[A-Z]", code_free):
            found.append(f"{n}: a bullet runs into the text before it: {line.strip()[:80]}")
        # where two texts were spliced: doubled punctuation or spaces inside a line
        for bad, what in ((r"::", "doubled colon"), (r"(?<!\.)\.\.(?!\.)", "doubled full stop"), (r",,", "doubled comma"),
                          (r"\S  +\S", "doubled space"), (r"\s[,.;:]\s", "punctuation after a space")):
            if re.search(bad, code_free.rstrip()):
                found.append(f"{n}: {what}: {line.strip()[:100]}")
        # two colon clauses spliced in one sentence ("...: the CLONE plugin: a fresh...")
        if re.search(r": [a-z][^.:;()|]*: ", code_free):
            found.append(f"{n}: two colons in one clause (a splice?): {line.strip()[:100]}")
        if re.search(r"\[%|%\]|\[\[|\]\]|\{\{|\}\}", code_free):
            found.append(f"{n}: a template tag left in the text: {line.strip()[:80]}")
        heading = re.match(r"^(#+) ", line)
        if heading:
            depth = len(heading.group(1))
            if level and depth > level + 1:
                found.append(f"{n}: heading jumps from level {level} to {depth}")
            level = depth
        if line.startswith("|"):
            cells = len(re.sub(r"\\\|", "", line).strip().strip("|").split("|"))
            if table_cols is None:
                table_cols = cells
            elif cells != table_cols:
                found.append(f"{n}: a table row with {cells} columns, its header has {table_cols}")
        else:
            table_cols = None
    if not text.startswith("# "):
        found.append("1: the README does not start with a level-1 heading")
    return found


@pytest.mark.parametrize("preset,flavor,type_", list(_cases()))
def test_every_generated_readme_is_well_formed_markdown(out, preset, flavor, type_):
    text = _readme(out, preset, flavor, type_)
    assert not problems(text), "\n".join(problems(text))


def test_the_checks_find_what_the_mysql_readme_had():
    """The splices found in charts/mysql/README.md before this test existed."""
    bad = ("# x\n\n- **GTID.** replication by ... (the chart uses none of them).- **Every member boots read-only**\n"
           "- copies a ready member before it replicates: the CLONE plugin: a fresh data directory\n"
           "  restart the clone asks for (start.sh starts the server again on the cloned data).  Data written\n")
    found = problems(bad)
    assert any("runs into the text before it" in p for p in found)
    assert any("two colons in one clause" in p for p in found)
    assert any("doubled space" in p for p in found)
