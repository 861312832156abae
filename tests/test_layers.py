"""Every import of project code sits at the top of its module.

A function-local import hides a dependency (and a cycle) from the reader; import-linter
contracts (pyproject.toml, `make lint`) then keep the layers and forbid cycles. The only
exceptions are listed here: what pulls torch into GPU jobs (CUDA does not survive the
worker's fork and the web must stay torch-free), what pulls spaCy and Presidio into PII jobs
(`curation.pii.analyzer`, loaded by `get_engine` on the first detection, so that neither web
requests nor `manage.py` commands pay seconds for a model they never run), and
`AppConfig.ready`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("curation", "training")

# Modules that import torch: importing them from a function is how a GPU job gets torch.
TORCH_MODULES = frozenset(
    {
        "training.local.engine",
        "training.local.dpo",
        "training.local.worker_main",
        "training.evaluation.local",
        # Not torch, but the same reason: spaCy's model and Presidio load on first detection.
        "curation.pii.analyzer",
    }
)
# Files that run only in GPU jobs (torchrun ranks, the local evaluator) and load lazily.
TORCH_FILES = ("training/local/", "training/evaluation/local.py")


def imported_modules(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".")[: -node.level]
        base = ".".join([*package, node.module] if node.module else package)
    else:
        base = node.module or ""
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def is_project(name: str) -> bool:
    return name.split(".")[0] in PROJECT_PACKAGES


def is_torch(name: str) -> bool:
    return any(name == torch or name.startswith(torch + ".") for torch in TORCH_MODULES)


def function_local_imports(path: Path, relative: str | None = None) -> list[str]:
    """`relative` names the file as if in the checkout (default: its path under ROOT)."""
    relative = relative or path.relative_to(ROOT).as_posix()
    if relative.startswith(TORCH_FILES):
        return []
    module = relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    tree = ast.parse(path.read_text(), filename=relative)
    found: list[str] = []

    def visit(node: ast.AST, function: str | None, in_app_config: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in child.bases}
                visit(child, function, "AppConfig" in bases)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                ready = in_app_config and child.name == "ready" and function is None
                visit(child, None if ready else child.name, False)
            elif isinstance(child, ast.Import | ast.ImportFrom) and function is not None:
                names = [name for name in imported_modules(child, module) if is_project(name)]
                if names and not any(is_torch(name) for name in names):
                    found.append(f"{relative}:{child.lineno} in {function}(): {ast.unparse(child)}")
            else:
                visit(child, function, in_app_config)

    visit(tree, None, False)
    return found


def project_files() -> list[Path]:
    return sorted(
        path
        for package in PROJECT_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def test_project_code_is_imported_at_the_top_of_its_module() -> None:
    found = [line for path in project_files() for line in function_local_imports(path)]
    assert not found, f"{len(found)} function-local imports of project code:\n" + "\n".join(found)


def test_the_check_sees_a_function_local_import(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text(
        "from curation.models import Dataset\n\n"
        "def f() -> None:\n    from curation.services import imports\n\n"
        "class Config(AppConfig):\n    def ready(self) -> None:\n        from curation import checks\n\n"
        "def gpu() -> None:\n    from training.local.engine import train\n"
    )
    found = function_local_imports(path, "curation/_layers_probe.py")
    assert found == ["curation/_layers_probe.py:4 in f(): from curation.services import imports"]


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).as_posix()
    return relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def module_level_imports(path: Path, modules: set[str]) -> set[str]:
    """Project modules this module imports when it loads (not under `if TYPE_CHECKING`)."""
    module = module_name(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                # A package's own relative imports resolve against the package itself.
                owner = f"{module}.__init__" if is_package else module
                names = imported_modules(node, owner)
                if isinstance(node, ast.ImportFrom):
                    # `from package import submodule` depends on the submodule, as
                    # `from package.submodule import name` does; only names that are not
                    # modules come from the package's own __init__.
                    base, members = names[-1], names[:-1]
                    submodules = [name for name in members if name in modules]
                    names = submodules + ([base] if len(submodules) < len(members) else [])
                found.update(name for name in names if name in modules and name != module)

    visit(ast.parse(path.read_text()).body)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def test_no_two_project_modules_import_each_other_in_a_cycle() -> None:
    files = project_files()
    modules = {module_name(path) for path in files}
    graph = {module_name(path): module_level_imports(path, modules) for path in files}
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(group) for group in cycles)


def test_the_cycle_check_finds_a_cycle_through_three_modules() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_no_module_of_the_apps_passes_600_lines() -> None:
    # A coarse guard against modules that mix concerns (migrations are generated).
    long = {
        path.relative_to(ROOT).as_posix(): lines
        for path in project_files()
        if (lines := len(path.read_text().splitlines())) > 600
    }
    assert not long, long
