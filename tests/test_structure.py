"""The library's shape (issue 11): one vocabulary, paper code outside the core, no private names across modules,
the library never reads the book's parameter files."""
import ast

import optlib as ol
from conftest import ROOT

LIB = ROOT / "optlib"


def _modules(folder):
    return sorted(p for p in folder.rglob("*.py"))


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node.module or "", [a.name for a in node.names], node.level
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], 0


def test_no_library_module_imports_paper_code_or_the_book():
    offenders = []
    for p in _modules(LIB):
        for mod, names, level in _imports(p):
            if level == 0 and (mod.split(".")[0] in ("papers", "book") or mod.startswith("optlib.experiments")):
                offenders.append(f"{p.relative_to(ROOT)} imports {mod}")
    assert not offenders, offenders


def test_no_module_imports_a_private_name_from_another():
    offenders = []
    for folder in (LIB, ROOT / "papers", ROOT / "book", ROOT / "benchmarks"):
        for p in _modules(folder):
            for mod, names, level in _imports(p):
                if mod == "__future__":
                    continue
                bad = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if bad:
                    offenders.append(f"{p.relative_to(ROOT)}: from {'.' * level}{mod} import {bad}")
            # attribute access to a private name of an imported module, e.g. ol.propagation._kernel(...)
            for node in ast.walk(ast.parse(p.read_text())):
                if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                        and isinstance(node.value, ast.Attribute) and isinstance(node.value.value, ast.Name)
                        and node.value.value.id in ("ol", "optlib")):
                    offenders.append(f"{p.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, offenders


def test_the_library_reads_no_parameter_file_by_path():
    for p in _modules(LIB):
        text = p.read_text()
        assert '"params"' not in text and "'params'" not in text, f"{p.relative_to(ROOT)} reads params/ by path"


def test_one_import_brings_the_whole_vocabulary():
    for name in ("rays", "psf", "meta", "sources", "fft", "elements", "imaging", "propagation", "nn"):
        assert hasattr(ol, name), name
    for name in ("Field", "Grid", "DOE", "ThinLens", "Aperture", "PhaseMask", "FourF", "Kerr", "pixelate",
                 "point_source", "plane_wave", "mdft"):
        assert hasattr(ol, name), name


def test_every_module_is_on_the_api_page():
    """The book's API page documents every module of optlib that defines something (packages only re-export)."""
    import pkgutil
    import re

    import optlib
    page = (ROOT / "book" / "api.md").read_text()
    listed = set(re.findall(r"\.\. automodule:: (optlib\.[\w.]+)", page))
    leaves = {m.name for m in pkgutil.walk_packages(optlib.__path__, "optlib.") if not m.ispkg}
    assert leaves - listed == set(), f"modules missing from book/api.md: {sorted(leaves - listed)}"
    assert listed - leaves == set(), f"book/api.md lists modules that do not exist: {sorted(listed - leaves)}"
