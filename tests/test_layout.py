"""Meta-tests over ganstudio/: the size limits, no private torch attributes, a docstring on every package.

Each check collects its offenders first, so a failure lists every one of them, not only the first.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ganstudio"
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60
MAX_LINE_CHARS = 120
# Private parts of torch that change without notice: GradScaler's scale tensor and its async read.
PRIVATE_TORCH_NAMES = {"_scale", "_get_scale_async"}
# A package docstring shorter than this names nothing (e.g. "Models."): it should say what lives there.
MIN_DOCSTRING_CHARS = 20


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def where(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def long_files() -> list[str]:
    found = []
    for path in sources():
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_FILE_LINES:
            found.append(f"{where(path)}: {count} lines")
    return found


def long_functions() -> list[str]:
    found = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                count = node.end_lineno - node.lineno + 1
                if count > MAX_FUNCTION_LINES:
                    found.append(f"{where(path)}:{node.lineno} {node.name}(): {count} lines")
    return found


def long_lines() -> list[str]:
    found = []
    for path in sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if len(line) > MAX_LINE_CHARS:
                found.append(f"{where(path)}:{number}: {len(line)} characters")
    return found


def dotted(node: ast.AST) -> list[str]:
    """`torch.cuda._x` -> ["torch", "cuda", "_x"]; [] when the chain does not start at a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else []


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_torch_uses_in(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = dotted(node)
            if node.attr in PRIVATE_TORCH_NAMES or (chain[:1] == ["torch"] and is_private(chain[1])):
                found.append((node.lineno, ".".join(chain) or "." + node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and name.value in PRIVATE_TORCH_NAMES:
                found.append((node.lineno, f'{node.func.id}(..., "{name.value}")'))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            private = [m for m in modules if m.startswith("torch.") and is_private(m.split(".")[1])]
            found += [(node.lineno, f"import {m}") for m in private]
    return found


def private_torch_uses() -> list[str]:
    found = []
    for path in sources():
        for line, what in private_torch_uses_in(ast.parse(path.read_text(encoding="utf-8"))):
            found.append(f"{where(path)}:{line}: {what}")
    return sorted(set(found))


def packages_without_docstring() -> list[str]:
    found = []
    folders = sorted({path.parent for path in sources()})
    for folder in folders:
        init = folder / "__init__.py"
        if not init.exists():
            found.append(f"{where(folder)}/: no __init__.py")
            continue
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        if len(docstring.strip()) < MIN_DOCSTRING_CHARS:
            found.append(f"{where(init)}: docstring {docstring.strip()!r} does not say what lives there")
    return found


def report(offenders: list[str]) -> str:
    return f"{len(offenders)} offender(s):\n" + "\n".join(offenders)


def test_no_file_is_longer_than_300_lines():
    offenders = long_files()
    assert not offenders, report(offenders)


def test_no_function_is_longer_than_60_lines():
    offenders = long_functions()
    assert not offenders, report(offenders)


def test_no_line_is_longer_than_120_characters():
    offenders = long_lines()
    assert not offenders, report(offenders)


def test_no_private_torch_attribute_is_used():
    offenders = private_torch_uses()
    assert not offenders, report(offenders)


def test_every_package_has_a_docstring_saying_what_lives_there():
    offenders = packages_without_docstring()
    assert not offenders, report(offenders)


def test_the_private_torch_check_finds_what_it_should_and_nothing_else():
    source = (
        "s = scaler._scale.clone()\n"
        "f = scaler._get_scale_async()\n"
        "torch._foreach_lerp_(a, b, 0.1)\n"
        "v = getattr(scaler, '_scale', None)\n"
        "import torch._dynamo\n"
        "from torch._C import x\n"
    )
    caught = private_torch_uses_in(ast.parse(source))
    assert sorted({line for line, _ in caught}) == [1, 2, 3, 4, 5, 6]
    clean = "v = torch.__version__\ns = scaler.get_scale()\nself._step = torch.zeros(1)\nimport torch.nn\n"
    assert private_torch_uses_in(ast.parse(clean)) == []


def test_the_size_checks_measure_functions_by_their_span():
    tree = ast.parse("def f():\n" + "    x = 1\n" * 60 + "\n\ndef g():\n    pass\n")
    spans = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert spans == {"f": 61, "g": 2}
