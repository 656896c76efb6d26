"""The package's shape, checked: no import cycle, and other libraries' private names only in
``lightning_gans/_compat.py`` (where ``tests/test_compat.py`` checks each of them)."""

import ast
from pathlib import Path

from helpers import PACKAGE


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports, at the top or inside functions (not only
    under ``TYPE_CHECKING``-free paths: a function-level import is still a dependency)."""
    found = set()
    package = name if (PACKAGE / Path(*name.split(".")[1:]) / "__init__.py").exists() else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            # `from pkg import module` depends on the module; `from pkg import name` on pkg.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_the_packages_modules():
    modules = _modules()
    graph = {name: _imports(name, tree, set(modules)) for name, tree in modules.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


DOCUMENTED_UNDERSCORE_NAMES = {"os._exit"}  # public API spelled with an underscore (Python's os docs)


def test_other_libraries_private_names_are_used_only_in_compat():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')}"
            if (
                isinstance(node, ast.ImportFrom)
                and not (node.module or "").startswith("lightning_gans")
                and node.level == 0
            ):
                offenders += [f"{where} imports {alias.name}" for alias in node.names if alias.name.startswith("_")]
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                ours = isinstance(owner, ast.Name) and owner.id in ("self", "cls", "_compat")
                ours = ours or ast.unparse(node) in DOCUMENTED_UNDERSCORE_NAMES
                if not ours:
                    offenders.append(f"{where} reads .{node.attr}")
    assert not offenders, "\n".join(offenders)


BASE_LINES, BASE_ARGUMENTS = 450, 20
CLI_MODULES = {"lightning_gans.cli", "lightning_gans.generate", "lightning_gans.__main__"}


def test_no_callback_imports_the_command_line():
    """Callbacks sample through ``lightning_gans.sampling``; the command-line modules are for users."""
    modules = _modules()
    offenders = {
        name: sorted(_imports(name, tree, set(modules)) & CLI_MODULES)
        for name, tree in modules.items()
        if name.startswith("lightning_gans.callbacks")
    }
    assert not any(offenders.values()), offenders


def test_base_gan_stays_small_with_one_owner_per_concern():
    source = (PACKAGE / "base.py").read_text()
    lines = len(source.splitlines())
    assert lines <= BASE_LINES, f"base.py has {lines} lines (limit {BASE_LINES}): give the new concern its own module"
    import inspect

    from lightning_gans import BaseGAN

    named = [p for p in inspect.signature(BaseGAN.__init__).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert len(named) - 1 <= BASE_ARGUMENTS, [p.name for p in named]


def test_the_cli_reads_no_private_state_of_the_model():
    """No ``model._x``/``self.model._x`` in cli.py: what a resume needs is in ``resume.py``."""
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    private = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
        and ast.unparse(node.value) in ("model", "self.model", "self.trainer.model", "trainer.model")
    ]  # fmt: skip
    assert not private, private
    assert "_epoch_ending" not in (PACKAGE / "cli.py").read_text()
