"""
The README's Python examples run as pasted.

Every ```python block of README.md is checked: it compiles, every name it uses is imported or defined in the block
itself (a reader pastes one block, not the page), and its import statements run. Then it runs, in a fresh namespace,
in an empty working folder that holds `clip.mp4` (a short real video), offline. A block that cannot run there (it
needs your own data, the Hub or gigabytes of weights) is marked by the line right before it:

    <!-- readme-test: not run (the reason) -->

and is only checked.
"""

import ast
import builtins
import re
import symtable
from pathlib import Path

import pytest

from modeling_mae_st.synthetic import render_motion_video, write_video


README = Path(__file__).resolve().parents[1] / "README.md"
NOT_RUN = re.compile(r"<!-- readme-test: not run \(.+\) -->")


def python_blocks() -> list[tuple[int, str, bool]]:
    """(line of the opening fence, code, runs) for each ```python block of the README."""
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks, start = [], None
    for number, line in enumerate(lines, start=1):
        if start is None and line.strip() == "```python":
            start = number
        elif start is not None and line.strip() == "```":
            marker = lines[start - 2].strip() if start >= 2 else ""
            blocks.append((start, "\n".join(lines[start:number - 1]) + "\n", not NOT_RUN.fullmatch(marker)))
            start = None
    return blocks


BLOCKS = python_blocks()


def undefined_names(code: str) -> set[str]:
    """Global names the code reads but neither imports, assigns, defines, nor gets from builtins."""
    module = symtable.symtable(code, "README.md", "exec")
    defined = {s.get_name() for s in module.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    used, pending = set(), [module]
    while pending:
        table = pending.pop()
        pending.extend(table.get_children())
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (table is module or symbol.is_global()):
                used.add(symbol.get_name())
    return used - defined - set(dir(builtins))


def test_the_readme_has_python_examples_and_runs_most_of_them():
    assert len(BLOCKS) >= 3 and sum(runs for _, _, runs in BLOCKS) >= 1


@pytest.mark.parametrize(("line", "code", "runs"), BLOCKS, ids=[f"README.md:{line}" for line, _, _ in BLOCKS])
def test_example_runs_as_pasted(line, code, runs, tmp_path, monkeypatch):
    tree = compile(code, f"README.md:{line}", "exec", ast.PyCF_ONLY_AST)
    missing = undefined_names(code)
    assert not missing, f"README.md:{line} uses {sorted(missing)} without importing or defining them"
    imports = ast.Module([node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))], [])
    exec(compile(imports, f"README.md:{line}", "exec"), {})
    if runs:
        frames = render_motion_video("right", num_frames=40, size=(96, 64))  # (frames, height, width, 3) uint8
        write_video(tmp_path / "clip.mp4", frames, fps=30, codec="mpeg4")
        monkeypatch.chdir(tmp_path)
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})
