"""The house's shape, read from the source: imports run one way (no cycle in pipelines/ or model/,
TYPE_CHECKING imports included), no module over 450 lines, each job's config at the bottom of its
package, and one module holding the output modes."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("pipelines", "model")
MAX_LINES = 450
JOBS = ("preprocess", "remove_background", "evaluate")


def _modules() -> dict:
    """dotted module name -> path, for every .py file under pipelines/ and model/."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: str, name: str) -> list:
    """(imported module, line, inside a function) for every import of a project module, wherever
    it stands (top level, under TYPE_CHECKING, in a function)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function |= {id(n) for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                # `from PKG import MODULE` runs PKG/__init__ first: an edge to both.
                targets += [full, base] if full in MODULES else [base]
        out += [(t, node.lineno, id(node) in in_function) for t in targets
                if t.split(".")[0] in PACKAGES]
    return out


def _edges() -> dict:
    edges = {}
    for name, path in MODULES.items():
        edges[name] = {target for target, _, _ in _imports(path, name)
                       if target in MODULES and target != name}
    return edges


def _cycles(edges: dict) -> list:
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
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
                result.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return result


def test_the_modules_are_found():
    assert {"pipelines.core.rejects", "pipelines.serving.outputs", "model.train",
            "pipelines.preprocess.config", "pipelines.evaluate.job"} <= set(MODULES)


def test_no_import_cycle_in_pipelines_or_model():
    assert _cycles(_edges()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_450_lines():
    long = {name: n for name, path in MODULES.items()
            if (n := sum(1 for _ in open(path, encoding="utf-8"))) > MAX_LINES}
    assert long == {}


def test_no_project_import_inside_a_function():
    """An import inside a function is how a cycle hides; none in pipelines/ or model/."""
    hidden = [(name, line, target) for name, path in MODULES.items()
              for target, line, in_function in _imports(path, name) if in_function]
    assert hidden == []


def _layer(name: str) -> str:
    parts = name.split(".")
    return parts[0] if parts[0] == "model" or len(parts) == 1 else ".".join(parts[:2])


# Which layers each layer may import: core at the bottom, serving above it, the jobs on top.
ALLOWED = {
    "model": {"model"},
    "pipelines.core": {"pipelines.core", "model"},
    "pipelines.serving": {"pipelines.serving", "pipelines.core", "model"},
    "pipelines.synthetic": {"pipelines.synthetic", "model"},
    **{f"pipelines.{job}": {f"pipelines.{job}", "pipelines.core", "pipelines.serving", "model"}
       for job in JOBS},
}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_run_one_way(layer):
    upward = sorted((name, target) for name, targets in _edges().items() if _layer(name) == layer
                    for target in targets if _layer(target) not in ALLOWED[layer])
    assert upward == []


@pytest.mark.parametrize("job", JOBS)
def test_a_jobs_config_imports_only_core_serving_and_model(job):
    name = f"pipelines.{job}.config"
    targets = {target for target, _, _ in _imports(MODULES[name], name)}
    assert targets and all(_layer(t) in ("pipelines.core", "pipelines.serving", "model")
                           or t == f"pipelines.{job}" for t in targets), targets


# The files an output format touches: its mode, kinds and names are in serving/outputs.py alone;
# its bytes come from inference.encode_outputs; these modules read the vocabulary from there.
OUTPUT_VOCABULARY = {"OUTPUT_MODES", "KINDS_OF_MODE", "MASK_SUFFIX", "kinds_of", "output_names",
                     "mask_path_beside", "is_mask_stem", "mask_key"}
OUTPUT_FORMAT_FILES = {
    "pipelines/serving/outputs.py",            # the modes, kinds, suffixes and names
    "pipelines/serving/inference.py",          # each kind's bytes (encode_outputs)
    "pipelines/serving/cutout.py",             # the one-image tool's --output
    "pipelines/remove_background/config.py",   # the job's --output
    "pipelines/remove_background/output_plan.py",  # names under DEST
    "pipelines/evaluate/pairing.py",           # a mask written beside its cut-out
    "pipelines/remove_background/review_page.py",  # shows the cut-out of a pair, not its mask
}


def _touches_outputs(path: str) -> bool:
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "pipelines.serving.outputs":
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "pipelines.serving" and any(
                a.name == "outputs" for a in node.names):
            return True
        if isinstance(node, ast.Name) and node.id in OUTPUT_VOCABULARY:
            return True
        if isinstance(node, ast.Constant) and node.value in (".mask", ("cutout", "mask", "both")):
            return True
        if isinstance(node, ast.Tuple) and [getattr(e, "value", None) for e in node.elts] == [
                "cutout", "mask", "both"]:
            return True
    return False


def test_the_files_an_output_format_touches():
    touching = {os.path.relpath(path, ROOT).replace(os.sep, "/")
                for name, path in MODULES.items() if _touches_outputs(path)}
    touching |= {"pipelines/serving/inference.py"}  # encodes each kind: read below
    assert touching == OUTPUT_FORMAT_FILES
    # The modes are defined once: no other module spells the tuple or the suffix.
    defining = sorted(os.path.relpath(path, ROOT) for path in MODULES.values()
                      if any(isinstance(n, ast.Tuple) and [getattr(e, "value", None)
                                                           for e in n.elts] == ["cutout", "mask",
                                                                                "both"]
                             or (isinstance(n, ast.Constant) and n.value == ".mask")
                             for n in ast.walk(ast.parse(open(path, encoding="utf-8").read()))))
    assert defining == [os.path.join("pipelines", "serving", "outputs.py")]
    encode = ast.parse(open(MODULES["pipelines.serving.inference"], encoding="utf-8").read())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "encode_outputs"
               for n in ast.walk(encode))


def _find_packages_arguments() -> dict:
    """setup.py's `find_packages(include=..., exclude=...)` arguments, read from its text
    (importing setup.py would run setuptools.setup)."""
    tree = ast.parse(open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read())
    [call] = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
              and getattr(n.func, "attr", getattr(n.func, "id", "")) == "find_packages"]
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def test_every_folder_of_modules_is_a_package():
    """A folder without __init__.py is left out of the wheel by find_packages (the workers'
    install) while it still imports from a checkout."""
    folders = {os.path.dirname(path) for path in MODULES.values()
               if "__pycache__" not in path}
    assert sorted(f for f in folders if not os.path.exists(os.path.join(f, "__init__.py"))) == []


def test_the_package_holds_the_jobs_but_not_the_synthetic_generator():
    import setuptools

    packages = set(setuptools.find_packages(ROOT, **_find_packages_arguments()))
    assert {"pipelines.core", "pipelines.serving", "pipelines.preprocess",
            "pipelines.remove_background", "pipelines.evaluate", "model"} <= packages
    assert not any(p.startswith("pipelines.synthetic") for p in packages)
    assert any(p.startswith("pipelines.synthetic") for p in setuptools.find_packages(ROOT))
