"""Every import of project code sits at the top of its module.

A function-local import hides a dependency (and a cycle) from the reader; import-linter
contracts (pyproject.toml, `make lint`) then keep the layers and forbid cycles. The only
exceptions are listed here: what pulls torch into GPU jobs (CUDA does not survive the
worker's fork and the web must stay torch-free), and `AppConfig.ready`.
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
