"""One module, one name, imports one way: no module path has an alias, no two modules of the
package (or of benchmarks/) import each other, directly or around a longer circle, and no
module reaches into another module's private names.

The import graph is read from the source (every `import` and `from ... import`, at module
level or inside functions), so an import that only runs on some path counts too."""

import ast
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _modules(folder, package=True):
    """{dotted module name: path} under ROOT/folder."""
    out = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        parts = list(path.relative_to(ROOT if package else ROOT / folder).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name, path, known):
    """(imported module, imported name or None, line) for every import in `path` that names
    a module in `known` (a `from pkg import mod` names the submodule)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                if full in known:
                    yield full, None, node.lineno
                elif base in known:
                    yield base, alias.name, node.lineno


def _graph(modules):
    graph = {m: set() for m in modules}
    for name, path in modules.items():
        for target, _, _ in _imports(name, path, modules):
            # A package's __init__ importing its own submodules is not a circle with them.
            if target != name and not (target.startswith(name + ".") and
                                       modules[name].name == "__init__.py"):
                graph[name].add(target)
    return graph


def _circles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize("folders", [("segdata", "segmodel"), ("benchmarks",)])
def test_imports_flow_one_way(folders):
    modules = {}
    for folder in folders:
        modules.update(_modules(folder, package=folder != "benchmarks"))
    assert _circles(_graph(modules)) == []


def test_circle_finder_sees_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_uses_another_modules_private_names():
    modules = {**_modules("segdata"), **_modules("segmodel")}
    used = []
    for name, path in modules.items():
        for target, imported, line in _imports(name, path, modules):
            if imported and imported.startswith("_") and not imported.startswith("__"):
                used.append(f"{path.relative_to(ROOT)}:{line} imports {target}.{imported}")
    assert used == []


@pytest.mark.parametrize("old", [
    "segdata.convert", "segdata.pipeline", "segdata.labels", "segmodel.export",
    "segmodel.predict", "segmodel.train_config", "segmodel.sam.label_server",
    "segmodel.sam.predictor", "segdata.io.moved",
])
def test_old_module_paths_are_gone(old):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


@pytest.mark.parametrize("package, name", [
    ("segmodel.training", "train"), ("segmodel.serving", "make_endpoints"),
    ("segmodel.models", "build_model"), ("segmodel.distribute", "make_strategy"),
    ("segmodel.sam.labelling", "load_prompt_file"), ("segmodel.sam.label_app", "serve"),
])
def test_packages_do_not_forward_their_modules_names(package, name):
    assert not hasattr(importlib.import_module(package), name)


def test_public_names_still_resolve():
    import segdata
    import segmodel

    for module in (segdata, segmodel):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"
