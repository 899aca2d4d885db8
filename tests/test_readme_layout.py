"""The README's layout section names every module of the package, so a newcomer can find where
any behaviour lives; and every module opens with a docstring saying what it holds."""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _layout() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Layout", 1)[1].split("\n## ", 1)[0]


def test_every_module_is_in_the_readme_layout():
    layout = _layout()
    missing = []
    for path in sorted((ROOT / "fastrnn").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if path.name in ("__init__.py", "__main__.py"):
            continue
        folder = path.parent.relative_to(ROOT).as_posix() + "/"
        if rel not in layout and not (folder != "fastrnn/" and folder in layout) \
                and path.name not in layout:
            missing.append(rel)
    assert not missing, f"modules not in the README layout: {missing}"


def test_every_module_has_a_docstring():
    bare = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "fastrnn").rglob("*.py"))
            if p.name != "__main__.py" and not ast.get_docstring(ast.parse(p.read_text()))]
    assert not bare, bare
