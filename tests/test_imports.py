"""The project's imports point one way: scripts -> tfnotes -> graph builders, with no cycle.

Every .py file of the repository is parsed (ast, nothing is imported), each import is resolved to a
project module where it names one, and the graph is checked.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".venv", ".git", "__pycache__", "model", "results"}

# The course's entry scripts: run by users, imported only by tests and benchmarks.
ENTRY_SCRIPTS = {"mnist_backward", "mnist_test", "mnist_app", "mnist_generateds", "mnist_export",
                 "lenet5.mnist_lenet5_backward", "lenet5.mnist_lenet5_test", "vgg16.app"}
# The pure graph builders, which import only TensorFlow (and each other's weight helpers).
GRAPH_BUILDERS = {"mnist_forward", "lenet5.mnist_lenet5_forward"}
NOT_PRODUCT = ("tests", "benchmarks")


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_files():
    for path in sorted(ROOT.rglob("*.py")):
        if not SKIP_DIRS & set(path.relative_to(ROOT).parts):
            yield path


def imported_names(path):
    """(line, dotted name, inside a function?) of every import in the file, relative ones made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    functions = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(f)}
    for node in ast.walk(tree):
        nested = id(node) in functions
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, nested
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:  # `from pkg import mod` imports the module pkg.mod
                yield node.lineno, f"{base}.{alias.name}", nested
            yield node.lineno, base, nested


def resolve(name, modules):
    """The longest project module that `name` starts with, or None for a third-party import."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


@pytest.fixture(scope="module")
def graph():
    files = {module_name(p): p for p in project_files()}
    edges = {}
    for mod, path in files.items():
        targets = {}
        for line, name, nested in imported_names(path):
            target = resolve(name, files)
            if target and target != mod:
                targets.setdefault(target, (line, nested))
        edges[mod] = targets
    return edges


def find_cycle(edges):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(mod):
        state[mod] = "open"
        stack.append(mod)
        for nxt in sorted(edges.get(mod, {})):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[mod] = "done"
        return None

    for mod in sorted(edges):
        if mod not in state:
            found = visit(mod)
            if found:
                return found
    return None


def is_product(mod):
    return mod.split(".")[0] not in NOT_PRODUCT


def test_the_graph_is_read(graph):
    # The checks below mean something only if the parser sees the real imports.
    assert "tfnotes.training" in graph["mnist_backward"]
    assert "mnist_forward" in graph["tfnotes.models"]
    assert set(ENTRY_SCRIPTS | GRAPH_BUILDERS) <= set(graph)


def test_no_import_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b": 0}, "b": {"c": 0}, "c": {"a": 0}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": 0}, "b": {}, "c": {"a": 0}}) is None


def test_no_product_code_imports_an_entry_script(graph):
    bad = [f"{mod} imports {target} (line {line})" for mod, targets in graph.items() if is_product(mod)
           for target, (line, _) in targets.items() if target in ENTRY_SCRIPTS]
    assert not bad, bad


def test_the_library_imports_only_itself_and_the_graph_builders(graph):
    bad = [f"{mod} imports {target}" for mod, targets in graph.items() if mod.startswith("tfnotes")
           for target in targets if not (target.startswith("tfnotes") or target in GRAPH_BUILDERS
                                         or target == "lenet5")]
    assert not bad, bad


def test_graph_builders_import_only_graph_builders(graph):
    bad = [f"{mod} imports {target}" for mod in GRAPH_BUILDERS for target in graph[mod]
           if target not in GRAPH_BUILDERS and target != "lenet5"]
    assert not bad, bad


def test_no_project_import_hides_in_a_function(graph):
    bad = [f"{mod} line {line}: {target}" for mod, targets in graph.items() if is_product(mod)
           for target, (line, nested) in targets.items() if nested]
    assert not bad, bad


def test_the_library_never_edits_sys_path():
    for path in (ROOT / "tfnotes").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                pytest.fail(f"{path.relative_to(ROOT)} line {node.lineno} uses sys.path")
