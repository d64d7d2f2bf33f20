"""Generation-time rendering: jinja2 with its own delimiters, so Helm's {{ }} passes through.

[[ expr ]]   a generation-time value      [% if x %] ... [% endif %]   a block
[# comment #]                              everything else, including {{ }}, is copied as is
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2


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
    """Render every file below ``src`` into the same relative place below ``dst``."""
    env = environment([src])
    written = []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src)
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = env.get_template(rel.as_posix()).render(**context)
        target.write_text(text)
        target.chmod(path.stat().st_mode & 0o777)
        written.append(target)
    return written
