"""Generation-time rendering, copier-style: only files that ask for it are templates.

A file named ``*.j2`` is rendered by jinja2 (its own delimiters, so Helm's ``{{ }}`` passes
through) and written without the suffix; every other file is copied byte for byte, so shell
``[[``, YAML flow lists and Helm templates never collide with generation-time syntax.

[[ expr ]]   a generation-time value      [% if x %] ... [% endif %]   a block
[# comment #]
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jinja2

SUFFIX = ".j2"


def environment(search_path: list[Path]) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search_path]),
        block_start_string="[%",
        block_end_string="%]",
        variable_start_string="[[",
        variable_end_string="]]",
        comment_start_string="[#",
        comment_end_string="#]",
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


def render_tree(src: Path, dst: Path, context: dict[str, Any]) -> list[Path]:
    """Copy every file below SRC into the same place below DST, rendering the ``.j2`` ones."""
    env = environment([src])
    written = []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src)
        if path.name.endswith(SUFFIX):
            target = dst / rel.parent / path.name[: -len(SUFFIX)]
            target.parent.mkdir(parents=True, exist_ok=True)
            text = env.get_template(rel.as_posix()).render(**context)
            if text.strip():
                target.write_text(text)
            else:
                continue  # a template that renders to nothing adds no file
        else:
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        target.chmod(path.stat().st_mode & 0o777)
        written.append(target)
    return written


def render_file(path: Path, context: dict[str, Any]) -> str:
    """One ``.j2`` file, rendered."""
    return environment([path.parent]).get_template(path.name).render(**context)
