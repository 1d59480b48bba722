"""No module outside ``stages/xlt/tasks/`` decides by comparing a task or family name to a string literal: what
differs between tasks is asked of the task registry or of the family's protocol object (``tasks/protocol.py``), so a
new target of an existing family is a registry entry plus a loader."""

from __future__ import annotations

import ast
from pathlib import Path

from stages.xlt.perturbations.knobs import KINDS
from stages.xlt.tasks import protocol, registry

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = ROOT / "stages" / "xlt" / "tasks"
# The perturbation catalogue's own vocabulary: its input kinds (qa, pair, sentence) share a name with a family.
OWN_WORDS = {ROOT / "stages" / "xlt" / "perturbations": set(KINDS)}
NAMES = (set(protocol.PROTOCOLS) | set(registry.INTERMEDIATE) | set(registry.FINETUNE) | set(registry.TARGETS)
         | set(registry.UNAVAILABLE))


def _literals(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [v for elt in node.elts for v in _literals(elt)]
    return []


def string_dispatch(source: str) -> list[tuple[int, str]]:
    """(line, name) of every comparison (==, !=, in, not in) of an expression with a literal task or family name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if not any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
                continue
            for operand in operands:
                found += [(node.lineno, name) for name in _literals(operand) if name in NAMES]
    return found


def test_the_scan_finds_a_comparison():
    assert string_dispatch('if spec.family == "qa":\n    pass\n') == [(1, "qa")]
    assert string_dispatch('ok = target in ("mlqa", "xnli")\n') == [(1, "mlqa"), (1, "xnli")]
    assert string_dispatch('x = {"qa": 1}["qa"]\n') == []


def test_no_module_outside_tasks_compares_a_task_or_family_name():
    offenders = []
    for path in sorted((ROOT / "stages").rglob("*.py")):
        if ALLOWED in path.parents:
            continue
        own = set().union(*(words for folder, words in OWN_WORDS.items() if folder in path.parents))
        offenders += [f"{path.relative_to(ROOT)}:{line} compares with {name!r}"
                      for line, name in string_dispatch(path.read_text(encoding="utf-8")) if name not in own]
    assert not offenders, "ask the task registry or the family's protocol instead:\n" + "\n".join(offenders)
